"""VL-RewardBench files: what is read, what is skipped (and counted), what is an error, and
the export loaded back by our reader and by `datasets.load_dataset`."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from app.demo.shapes import random_scene, render_png
from app.rewardbench.files import RewardFileError, load_file, write_items
from tests.rewardbench.world import reward_row, truth_items


@pytest.fixture(scope="module")
def demo() -> list:
    return truth_items(4)


def png(item) -> bytes:
    return render_png(random_scene(item.scene_seed))


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_images_beside_embedded_or_base64(tmp_path: Path, demo: list) -> None:
    (tmp_path / "images" / "rlhf-v").mkdir(parents=True)
    (tmp_path / "images" / "rlhf-v" / "a.png").write_bytes(png(demo[0]))
    raw = base64.b64encode(png(demo[2])).decode()
    rows = [reward_row("RLHF-V-1", demo[0], image_path="images/rlhf-v/a.png"),
            reward_row("povid_2", demo[1], image="data:image/png;base64,"
                       + base64.b64encode(png(demo[1])).decode()),
            reward_row("g-3", demo[2], image=raw)]
    loaded = load_file(write_jsonl(tmp_path / "d.jsonl", rows))
    assert loaded.total_skipped == 0
    assert [i.image.data for i in loaded.items] == [png(d) for d in demo[:3]]
    assert [i.domain for i in loaded.items] == ["hallucination", "hallucination", "general"]
    assert [i.preferred for i in loaded.items] == [d.truth["better"] - 1 for d in demo[:3]]
    # the same rows as one JSON list (and as {"data": [...]})
    (tmp_path / "d.json").write_text(json.dumps(rows))
    assert [i.key for i in load_file(tmp_path / "d.json").items] == [
        i.key for i in loaded.items]
    (tmp_path / "w.json").write_text(json.dumps({"data": rows}))
    assert len(load_file(tmp_path / "w.json").items) == 3


def test_bad_rows_are_skipped_and_counted(tmp_path: Path, demo: list) -> None:
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    good = reward_row("ok-1", demo[0], image="data:image/png;base64,"
                      + base64.b64encode(png(demo[0])).decode())
    rows = [
        good,
        {k: v for k, v in good.items() if k != "human_ranking"} | {"id": "no-ranking"},
        {k: v for k, v in good.items() if k != "image"} | {"id": "no-image"},
        good | {"id": "missing-file", "image": "images/nowhere.png"},
        good | {"id": "junk-file", "image": "junk.png"},
        good | {"id": "one-response", "response": ["only one"]},
        good | {"id": "empty-response", "response": ["", "b"]},
        good | {"id": "bad-ranking", "human_ranking": [0, 0]},
        good | {"id": "bool-ranking", "human_ranking": [True, False]},
        good | {"id": "bad-base64", "image": "data:image/png;base64,@@@"},
        good | {"id": "query-number", "query": 5},
        "not an object",
        good,  # repeated
    ]
    loaded = load_file(write_jsonl(tmp_path / "d.jsonl", rows))
    assert [i.id for i in loaded.items] == ["ok-1"]
    assert dict(loaded.skipped) == {
        "missing fields": 2, "image does not exist": 1, "not a readable image": 1,
        "wrong type": 5,  # one response, an empty one, [0, 0], [True, False], query 5
        "image not decodable": 1, "not an object": 1, "repeated": 1}
    assert loaded.total_skipped == len(rows) - 1
    assert loaded.examples[0].startswith("row 2: missing fields: human_ranking")


@pytest.mark.parametrize(("name", "text", "message"), [
    ("e.jsonl", "", "empty"),
    ("e.jsonl", '{"id": 1}\n{"id": \n', "line 2 is not JSON"),
    ("e.json", '{"id": 1', "not JSON"),
    ("e.json", '{"id": 1}', "expected a list"),
])
def test_unreadable_files_are_errors(tmp_path: Path, name: str, text: str,
                                     message: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(RewardFileError, match=message):
        load_file(tmp_path / name)
    with pytest.raises(RewardFileError, match="no such file"):
        load_file(tmp_path / "missing.jsonl")


@pytest.mark.parametrize("embed", [False, True])
def test_export_loads_back(tmp_path: Path, demo: list, embed: bool) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [
        reward_row(f"RLAIF-V-{n}", d, image="data:image/png;base64,"
                   + base64.b64encode(png(d)).decode()) for n, d in enumerate(demo)])
    items = load_file(source).items
    out = tmp_path / "export"
    assert write_items(items, out, lambda i: i.image.data, embed=embed) == len(demo)
    again = load_file(out / "data.jsonl").items
    assert [(i.id, i.query, i.responses, i.human_ranking, i.image.sha256, i.domain)
            for i in again] == [(i.id, i.query, i.responses, i.human_ranking,
                                 i.image.sha256, i.domain) for i in items]
    assert (out / "images").exists() != embed

    import datasets

    ds = datasets.load_dataset("json", data_files=str(out / "data.jsonl"), split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == len(demo)
    assert ds[0]["human_ranking"] == list(items[0].human_ranking)
    assert ds[0]["response"] == list(items[0].responses)
    assert set(ds.column_names) >= {"id", "query", "response", "human_ranking", "models",
                                    "image_path", "image", "meta"}


def test_export_leaves_nothing_when_it_fails(tmp_path: Path, demo: list) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [
        reward_row(f"g-{n}", d, image="data:image/png;base64,"
                   + base64.b64encode(png(d)).decode()) for n, d in enumerate(demo)])
    items = load_file(source).items

    def image_bytes(item):
        if item.id == "g-2":
            raise OSError("disk went away")
        return item.image.data

    with pytest.raises(OSError, match="disk went away"):
        write_items(items, tmp_path / "out", image_bytes)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("mine")
    with pytest.raises(RewardFileError, match="not an empty folder"):
        write_items(items, tmp_path / "full", lambda i: i.image.data)
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["x"]
