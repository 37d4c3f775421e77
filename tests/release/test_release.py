"""`arena release` on planted traffic: every planted item filtered or scrubbed and
counted, row counts adding up, datasets.load_dataset decoding the stored images with the
declared features, a byte-identical re-release served from the filter cache (no OCR or
face detection), and bad input stopping the release with nothing published."""

from __future__ import annotations

import asyncio
import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from app.moderation.messages import REFUSALS
from app.moderation.result import PII
from app.release import pii_image
from app.release.build import ReleaseParams, build_release
from app.release.errors import FilterUnavailable, ReleaseError
from app.release.manifest import verify_manifest
from app.release.push import push_release
from app.storage.blobs import LocalBlobStore
from tests.release import traffic as t

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

START, END = t.DAY, t.DAY + timedelta(days=1)
MISSING_DAY = t.DAY + timedelta(days=2)
NAMES = {n: tuple([n, *w]) for n, w in t.MODELS.items()}
PLANTED = ("John Smith", "john.smith@example.com", "(415) 555-0132", "Mary Johnson",
           "mary.j@example.org", "(212) 555-0188")
# (chat rows, battle rows) each filter removes from the scenario below.
EXPECTED = {
    "consent": (2, 1), "removed": (2, 1), "pending_review": (0, 0), "banned": (0, 0),
    "deleted": (0, 0), "excluded_vote": (0, 1), "identity_leak": (2, 1),
    "unfinished": (1, 1), "error_refusal": (2, 2),
    # 31 distinct prompts: 30 once, one 12 times; the 99.99th percentile of the counts is
    # 1 + 0.9969 * 11 = 11.97, so the repeated prompt keeps 11 of its 12 battles.
    "dedup": (2, 1), "nsfw_image": (0, 0), "image_pii": (4, 2), "text_pii": (0, 0),
}
CONSIDERED = (89, 42)


def scenario() -> tuple[list[t.Conv], dict[str, bytes]]:
    img = {f"plain{k}": t.shapes_image(k) for k in range(10)}
    img["face"] = t.face_image()
    img["email"] = t.printed_email_image()
    at = iter(START + timedelta(minutes=k) for k in range(1000))

    def conv(prompt: str, **kw: object) -> t.Conv:
        return t.Conv(prompt=prompt, at=next(at), visitor=len(prompt) % 6, **kw)  # type: ignore[arg-type]

    convs = [conv(f"Clean question {k}: which colour is the round shape?",
                  image=img[f"plain{k % 10}"]) for k in range(20)]
    convs[0].extra_turns = [("And the background?", "It is blue.", "Green, I think.")]
    convs += [
        conv("Hi, I am John Smith. Write to john.smith@example.com or call (415) 555-0132 "
             "about this photo.", image=img["plain1"],
             answer_a="Sure, Mary Johnson can be reached at mary.j@example.org or "
                      "(212) 555-0188."),
        conv("Who is in this photograph?", image=img["face"]),
        conv("What does this note say?", image=img["email"]),
        conv("Which model are you?", model_a="alpha-vl",
             answer_a="As a model by AlphaCorp, I see a circle."),
        t.Conv(prompt="A visitor who never accepted the terms", at=next(at), visitor=6),
        conv("A battle a moderator removed", removed=True),
        conv("A side that failed", status_b="failed"),
        conv("A refused answer", answer_b=REFUSALS[PII]),
        conv("An error answer", answer_a="Error: upstream connect error or disconnect"),
        conv("A preset question", preset="random-image", image=img["plain2"]),
        conv("A direct chat question", model_b=None, mode="direct", winner=None,
             image=img["plain3"]),
        conv("A side-by-side question", mode="side_by_side", vote_anonymous=False),
        conv("An excluded vote", excluded=True),
    ]
    convs += [conv("What is this?") for _ in range(12)]
    return convs, img


@pytest.fixture(scope="module")
async def planted(lb_pg_url: str, blob_dir: Path) -> dict[str, bytes]:
    from app.db.session import make_engine, make_sessionmaker

    engine = make_engine(lb_pg_url)
    sm = make_sessionmaker(engine)
    store = LocalBlobStore(blob_dir)
    convs, img = scenario()
    lost = t.shapes_image(99)  # its blob is deleted below: the missing-blob case
    async with sm() as session:
        await t.add_registry(session)
        visitors = await t.add_visitors(session, consented=6, unconsented=1)
        await t.store_images(session, store, [*img.values(), lost])
        await t.insert_conversations(session, visitors, convs)
        await t.insert_conversations(session, visitors, [
            t.Conv(prompt="Its image blob is gone", image=lost, at=MISSING_DAY)])
    store._path(t.sha(lost) or "").unlink()
    await engine.dispose()
    return img


def params(out: Path, **kw: object) -> ReleaseParams:
    base: dict[str, object] = {"start": START, "end": END, "out_dir": out,
                               "terms_versions": (t.TERMS,), "identity_names": NAMES,
                               "terms_text": "- Your images may be released.", "batch": 16}
    return ReleaseParams(**{**base, **kw})  # type: ignore[arg-type]


def _files(folder: Path) -> list[Path]:
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def rows(folder: Path, config: str) -> list[dict]:
    out: list[dict] = []
    for f in sorted((folder / "data" / config).glob("*.parquet")):
        out += pq.read_table(f).to_pylist()
    return out


@pytest.fixture(scope="module")
async def first_release(planted: dict[str, bytes], lb_pg_url: str, blob_dir: Path,
                        tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.db.session import make_engine, make_sessionmaker

    engine = make_engine(lb_pg_url)
    out = tmp_path_factory.mktemp("rel") / "release-1"
    await build_release(make_sessionmaker(engine), LocalBlobStore(blob_dir).read_sync,
                        params(out))
    await engine.dispose()
    return out


async def test_planted_items_filtered_scrubbed_and_counted(first_release: Path,
                                                           planted: dict[str, bytes]) -> None:
    manifest = verify_manifest(first_release)
    removed = {f["name"]: (f["chat_removed"], f["battle_removed"])
               for f in manifest["filters"]}
    assert removed == EXPECTED
    chat, battle = rows(first_release, "chat"), rows(first_release, "battle")
    assert len(chat) == CONSIDERED[0] - sum(c for c, _ in EXPECTED.values()) == 74
    assert len(battle) == CONSIDERED[1] - sum(b for _, b in EXPECTED.values()) == 32
    assert manifest["rows"] == {"chat": 74, "battle": 32, "replay": 23}  # A, B, preset, direct
    image_pii = next(f for f in manifest["filters"] if f["name"] == "image_pii")
    assert image_pii["details"] == {"faces": 1, "printed_pii": 1}

    texts = [m["content"] for r in chat for turn in r["conversation"] for m in turn]
    texts += [m["content"] for r in battle for side in ("conversation_a", "conversation_b")
              for m in r[side]]
    assert not [p for p in PLANTED for x in texts if p in x]
    scrubbed = [x for x in texts if "[EMAIL]" in x]
    assert ("Hi, I am [NAME]. Write to [EMAIL] or call [PHONE] about this photo."
            in scrubbed)
    assert "Sure, [NAME] can be reached at [EMAIL] or [PHONE]." in scrubbed
    text_pii = next(f for f in manifest["filters"] if f["name"] == "text_pii")
    assert text_pii["changed"] == 1
    assert text_pii["details"] == {"EMAIL": 2, "NAME": 2, "PHONE": 2}

    released = {r["image_sha256"] for r in chat}
    assert t.sha(planted["face"]) not in released and t.sha(planted["email"]) not in released
    assert not [x for x in texts if "AlphaCorp" in x or "upstream connect" in x
                or REFUSALS[PII] in x]
    prompts = [r["conversation"][0][0]["content"] for r in chat]
    assert "A visitor who never accepted the terms" not in prompts
    assert "A battle a moderator removed" not in prompts
    assert prompts.count("What is this?") == 22  # 11 battles, 2 sides each
    dup = [r for r in battle if r["conversation_a"][0]["content"] == "What is this?"]
    assert len(dup) == 11 and all(r["dedup_tag"]["high_freq"] for r in dup)
    assert {r["mode"] for r in chat} == {"anonymous", "side_by_side", "direct"}
    assert [r["conversation_a"][0]["content"] for r in battle].count("A preset question") == 0
    assert "A preset question" in prompts and "An excluded vote" in prompts
    multi = next(r for r in chat if r["num_turns"] == 2)
    assert multi["conversation"][1][0] == {"role": "user", "content": "And the background?"}

    card = (first_release / "README.md").read_text()
    for name, (c, b) in EXPECTED.items():
        assert f"| {name} | 1 |" in card and f"| {c} | {b} |" in card
    recall = manifest["pii_text_recall"]
    assert f"| all | {recall['planted']} |" in card and f"{recall['overall']:.1%}" in card
    assert "Your images may be released." in card and "89 = 74 + 15" in card


async def test_load_dataset_decodes_the_stored_images(first_release: Path,
                                                      blob_dir: Path) -> None:
    import datasets

    from app.release.features import hf_features
    from app.release.rows import BATTLE_SCHEMA, CHAT_SCHEMA, IMAGE_COLUMNS

    store = LocalBlobStore(blob_dir)
    cache = first_release.parent / "hf-cache"
    for config, schema, n in (("chat", CHAT_SCHEMA, 74), ("battle", BATTLE_SCHEMA, 32)):
        ds = datasets.load_dataset(str(first_release), config, split="train",
                                   cache_dir=str(cache))
        assert len(ds) == n
        assert ds.features == datasets.Features.from_dict(hf_features(schema, IMAGE_COLUMNS))
        raw = ds.cast_column("images", datasets.List(datasets.Image(decode=False)))
        with_images = 0
        for row, raw_row in zip(ds, raw, strict=True):
            if not row["images"]:
                continue
            with_images += 1
            blob = store.read_sync(row["image_sha256"])
            assert raw_row["images"][0]["bytes"] == blob
            with Image.open(io.BytesIO(blob)) as im:
                assert np.array_equal(np.asarray(row["images"][0].convert("RGB")),
                                      np.asarray(im.convert("RGB")))
        assert with_images > 0
    replay = datasets.load_dataset(str(first_release), "replay", split="train",
                                   cache_dir=str(cache))
    # What vLLM's VisionArenaDataset reads from each row.
    first = replay[0]
    assert isinstance(first["conversation"][0][0]["content"], str)
    assert first["images"][0].size[0] > 0


async def test_rerelease_is_byte_identical_and_runs_no_ocr_or_faces(
        first_release: Path, lb_pg_url: str, blob_dir: Path) -> None:
    from app.db.session import make_engine, make_sessionmaker

    before = dict(pii_image.CALLS)
    engine = make_engine(lb_pg_url)
    again = first_release.parent / "release-2"
    await build_release(make_sessionmaker(engine), LocalBlobStore(blob_dir).read_sync,
                        params(again))
    await engine.dispose()
    assert dict(pii_image.CALLS) == before
    files = _files(first_release)
    assert files == _files(again)
    assert [(first_release / f).read_bytes() == (again / f).read_bytes() for f in files] \
        == [True] * len(files)
    mirror = push_release(again, str(first_release.parent / "mirror"))
    verify_manifest(Path(mirror))


async def test_blur_keeps_the_pii_images_blurred(planted: dict[str, bytes], lb_sm,
                                                 blob_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "blurred"
    result = await build_release(lb_sm, LocalBlobStore(blob_dir).read_sync,
                                 params(out, image_pii_action="blur"))
    assert result.manifest["rows"]["chat"] == 78 and result.manifest["rows"]["battle"] == 34
    chat = rows(out, "chat")
    face = [r for r in chat if r["image_sha256"] == t.sha(planted["face"])]
    assert len(face) == 2
    assert face[0]["images"][0]["path"].endswith("-blurred.png")
    assert face[0]["images"][0]["bytes"] != planted["face"]


async def test_bad_input_stops_the_release_and_publishes_nothing(
        planted: dict[str, bytes], lb_sm, blob_dir: Path, tmp_path: Path) -> None:
    read = LocalBlobStore(blob_dir).read_sync
    out = tmp_path / "never"
    now = datetime.now(UTC)
    cases = [
        (params(out, end=START), ReleaseError, "empty range"),
        (params(out, start=now - timedelta(hours=1), end=now + timedelta(days=1)),
         ReleaseError, "future"),
        (params(out, start=START - timedelta(days=10), end=START - timedelta(days=9)),
         ReleaseError, "no conversations"),
        (params(out, start=MISSING_DAY, end=MISSING_DAY + timedelta(days=1)),
         ReleaseError, "missing from the blob store"),
        (params(out, face_cascade=tmp_path / "no-such-cascade.xml"), FilterUnavailable,
         "face detector model not found"),
    ]
    for case, error, message in cases:
        with pytest.raises(error, match=message):
            await build_release(lb_sm, read, case)
        assert _files(tmp_path) == []  # neither the release nor its hidden partial folder


TOKENIZER = Path(__file__).resolve().parents[2] / "models/demo/shapes-small"
VLLM_READS_REPLAY = """
import json, sys
from transformers import AutoTokenizer
from vllm.benchmarks.datasets.datasets import VisionArenaDataset
tokenizer = AutoTokenizer.from_pretrained(sys.argv[2])
data = VisionArenaDataset(dataset_path=sys.argv[1], dataset_split="train",
                          dataset_subset="replay", hf_name="lmarena-ai/VisionArena-Chat",
                          no_stream=True, disable_shuffle=True)
requests = data.sample(tokenizer=tokenizer, num_requests=100, no_oversample=True)
print(json.dumps([[r.prompt, r.multi_modal_data["image_url"]["url"][:23]] for r in requests]))
"""


@pytest.mark.vllm
async def test_vllm_serving_benchmark_reads_the_replay_trace(first_release: Path) -> None:
    """vLLM's own VisionArenaDataset (what `vllm bench serve --dataset-name hf --hf-name
    lmarena-ai/VisionArena-Chat` uses) samples every replay prompt with its image."""
    import asyncio
    import json
    import subprocess

    from tests.engines.conftest import require_vllm_env, vllm_subprocess_env

    python = require_vllm_env()
    done = await asyncio.to_thread(
        subprocess.run, [str(python), "-c", VLLM_READS_REPLAY, str(first_release),
                         str(TOKENIZER)],
        capture_output=True, text=True, timeout=300, check=False,
        env={**vllm_subprocess_env(), "HF_DATASETS_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    sampled = json.loads(done.stdout.strip().splitlines()[-1])
    replay = rows(first_release, "replay")
    assert sorted(p for p, _ in sampled) == sorted(r["conversation"][0][0]["content"]
                                                   for r in replay)
    assert len(sampled) == 23 and {u for _, u in sampled} == {"data:image/jpeg;base64,"}


def test_push_needs_a_token_and_a_matching_manifest(first_release: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no stored token either
    with pytest.raises(ReleaseError, match="no Hugging Face token"):
        push_release(first_release, "someone/arena-release")
    copy = tmp_path / "copy"
    push_release(first_release, f"file://{copy}")
    (copy / "README.md").write_text("tampered")
    with pytest.raises(ReleaseError, match="does not match its manifest"):
        push_release(copy, str(tmp_path / "elsewhere"))
    assert not (tmp_path / "elsewhere").exists()


async def test_release_on_the_embedded_sqlite_default(first_release: Path,
                                                      tmp_path: Path) -> None:
    """The same release code on SQLite (the embedded default): keyset batches over its
    UUID text ids, the filter cache's ON CONFLICT, byte-identical again."""
    from app.db.migrate import upgrade
    from app.db.session import make_engine, make_sessionmaker

    url = f"sqlite+aiosqlite:///{tmp_path}/arena.db"
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    sm = make_sessionmaker(engine)
    store = t.write_blob_dir(tmp_path / "blobs")
    convs, images = t.bulk_traffic(60)
    async with sm() as session:
        await t.add_registry(session)
        visitors = await t.add_visitors(session, consented=20)
        await t.store_images(session, store, images)
        await t.insert_conversations(session, visitors, convs)
    first = await build_release(sm, store.read_sync, params(tmp_path / "a", batch=7))
    again = await build_release(sm, store.read_sync, params(tmp_path / "b", batch=7))
    await engine.dispose()
    assert first.manifest["rows"] == {"chat": 114, "battle": 48, "replay": 60}
    assert first.manifest["files"] == again.manifest["files"]
