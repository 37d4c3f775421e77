"""Bench curation without a database: eligibility rules, the (image, prompt) dedup key,
seeded clustering and uniform sampling per cluster, the image descriptor, and the bench
files (versioned, reproducible to the byte, checked on reading)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from app.bench.curate import BenchBuildError, kmeans, sample_per_cluster, select_questions
from app.bench.eligibility import PromptRecord, drop_reason, question_id, select_eligible
from app.bench.embed import PerceptualImageEmbedder, combine
from app.bench.files import BenchFileError, BenchQuestion, load_bench, write_bench
from tests.bench.helpers import T0, png

SHA_A, SHA_B = "a" * 64, "b" * 64


def rec(i: int, prompt: str = "How many shapes are there?", **kw) -> PromptRecord:  # type: ignore[no-untyped-def]
    base = PromptRecord(battle_id=f"b{i:03d}", created_at=T0 + timedelta(minutes=i), turns=1,
                        prompt=prompt, image_sha256=SHA_A, language="en")
    return replace(base, **kw)


def test_each_rule_drops_what_it_should() -> None:
    assert drop_reason(rec(0)) is None
    assert drop_reason(rec(0, removed=True)) == "removed"
    assert drop_reason(rec(0, review_status="removed")) == "removed"
    assert drop_reason(rec(0, review_status="review")) == "moderation"
    assert drop_reason(rec(0, review_status="approved")) is None
    assert drop_reason(rec(0, image_sha256=None)) == "no_image"
    assert drop_reason(rec(0, turns=2)) == "multi_turn"
    assert drop_reason(rec(0, prompt="  \n ")) == "empty_prompt"
    assert drop_reason(rec(0, preset=True)) == "preset"
    assert drop_reason(rec(0, language="fr")) == "not_english"
    # unknown language: the detector decides; without one the prompt is kept
    assert drop_reason(rec(0, language=None)) is None
    assert drop_reason(rec(0, language=None), lambda t: "de") == "not_english"
    assert drop_reason(rec(0, language=None), lambda t: "en") is None


def test_dedup_is_on_image_and_prompt_and_keeps_the_earliest() -> None:
    records = [
        rec(5, "How many shapes are there?"),
        rec(1, "How  many shapes are there? "),  # same after whitespace: a duplicate
        rec(2, "How many shapes are there?", image_sha256=SHA_B),  # another image: kept
        rec(3, "Describe the image."),
        rec(4, "Describe the image.", language="fr"),
    ]
    out = select_eligible(records)
    assert out.considered == 5 and out.duplicates == 1
    assert out.dropped["not_english"] == 1
    assert {p.battle_id for p in out.prompts} == {"b001", "b002", "b003"}
    assert [p.question_id for p in out.prompts] == sorted(p.question_id for p in out.prompts)
    assert question_id(SHA_A, "How many shapes are there?") == question_id(
        SHA_A, " How many  shapes are there?")
    # the database's row order does not matter
    assert select_eligible(list(reversed(records))) == out


def test_no_eligible_prompt_is_a_clear_error() -> None:
    out = select_eligible([rec(0, turns=3), rec(1, image_sha256=None)])
    assert out.prompts == []
    with pytest.raises(BenchBuildError, match="no eligible prompts"):
        select_questions(out.prompts, np.zeros((0, 4)), n=10, seed=0)


def test_sampling_is_uniform_per_cluster_and_seeded() -> None:
    labels = [0] * 5 + [1] + [2] * 2
    chosen = sample_per_cluster(labels, 6, seed=1)
    per = [sum(labels[i] == c for i in chosen) for c in range(3)]
    assert per == [3, 1, 2]  # one from each, then one more from each that has more, ...
    assert len(set(chosen)) == 6
    assert sample_per_cluster(labels, 6, seed=1) == chosen
    assert sorted(sample_per_cluster(labels, 20, seed=1)) == list(range(8))


def test_kmeans_labels_are_canonical_and_deterministic() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[5.0, 0], [0, 5.0], [-5.0, -5.0]])
    x = np.vstack([c + rng.normal(0, 0.1, (6, 2)) for c in centres])
    labels = kmeans(x, 3, seed=0)
    assert labels[0] == 0 and list(labels) == [0] * 6 + [1] * 6 + [2] * 6
    assert list(kmeans(x, 3, seed=0)) == list(labels)


def test_perceptual_descriptor_tells_colours_apart() -> None:
    emb = PerceptualImageEmbedder()
    red, red2, blue = emb.embed_images([png((220, 40, 40)), png((220, 40, 40), 48),
                                        png((50, 90, 230))])
    assert np.allclose(np.linalg.norm([red, blue], axis=1), 1)
    assert red @ red2 > 0.99 and red @ blue < 0.9
    both = combine(np.ones((2, 3)), np.vstack([red, blue]), same_space=False)
    assert both.shape == (2, 3 + emb.info["dim"])
    assert np.allclose(np.linalg.norm(both, axis=1), 1)


def _bench_files(tmp: Path, folder: str | None = None):  # type: ignore[no-untyped-def]
    images = {}
    questions = []
    for i, colour in enumerate([(200, 0, 0), (0, 200, 0), (0, 0, 200)]):
        data = png(colour)
        from hashlib import sha256
        sha = sha256(data).hexdigest()
        images[sha] = data
        questions.append(BenchQuestion(question_id(sha, f"q{i}"), f"q{i}", sha, i % 2))
    return write_bench(tmp, questions, images, {"params": {"seed": 0}}, folder=folder)


def test_bench_files_are_versioned_reproducible_and_checked(tmp_path: Path) -> None:
    first = _bench_files(tmp_path / "one")
    second = _bench_files(tmp_path / "two")
    assert first.version == second.version and first.version.startswith("vab-")
    for name in ("questions.jsonl", "manifest.json"):
        assert (first.path / name).read_bytes() == (second.path / name).read_bytes()
    line = json.loads((first.path / "questions.jsonl").read_text().splitlines()[0])
    assert set(line) == {"question_id", "category", "cluster", "turns", "image_sha256",
                         "image_path"}
    assert line["turns"] == [{"content": "q0"}]
    assert (first.path / line["image_path"]).is_file()
    bench = load_bench(first.path)
    assert [q.prompt for q in bench.questions] == ["q0", "q1", "q2"]
    # results survive a rebuild of the same folder
    (first.path / "results").mkdir()
    (first.path / "results" / "r.json").write_text("{}")
    again = _bench_files(tmp_path / "one")
    assert (again.path / "results" / "r.json").is_file()
    # an altered file is caught
    (again.path / line["image_path"]).write_bytes(png((1, 2, 3)))
    with pytest.raises(BenchFileError, match="does not match its sha256"):
        load_bench(again.path)
    with pytest.raises(BenchFileError, match="manifest.json is missing"):
        load_bench(tmp_path)
