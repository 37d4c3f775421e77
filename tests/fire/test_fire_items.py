"""FIRE test files: every bad row is named and counted, a bad file is refused whole
(nothing stored), `--skip-bad` stores only the good rows and says how many it left out."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from app.demo.shapes import random_scene, render_png
from app.fire.items import ItemFileError, demo_items, read_fire_file


def _write(tmp: Path, rows: object) -> Path:
    (tmp / "img").mkdir(exist_ok=True)
    (tmp / "img" / "a.png").write_bytes(render_png(random_scene(1)))
    (tmp / "img" / "b.png").write_bytes(render_png(random_scene(2)))
    (tmp / "img" / "not-an-image.png").write_bytes(b"hello")
    path = tmp / "fire_test.json"
    path.write_text(rows if isinstance(rows, str) else json.dumps(rows))
    return path


GOOD = [{"id": "1", "image": "img/a.png", "raw": {"question": "What colour?",
                                                  "groundtruth": "red"}},
        {"id": 2, "image": "img/b.png", "raw": {"question": "How many?",
                                                "groundtruth": "two"}}]
BAD = [
    {"image": "img/a.png", "raw": {"question": "q", "groundtruth": "g"}},  # no id
    {"id": "3", "raw": {"question": "q", "groundtruth": "g"}},  # no image
    {"id": "4", "image": "img/a.png"},  # no raw
    {"id": "5", "image": "img/a.png", "raw": {"groundtruth": "g"}},  # no question
    {"id": "6", "image": "img/a.png", "raw": {"question": "q", "groundtruth": "  "}},
    {"id": "7", "image": "img/missing.png", "raw": {"question": "q", "groundtruth": "g"}},
    {"id": "8", "image": "img/not-an-image.png", "raw": {"question": "q", "groundtruth": "g"}},
    {"id": "1", "image": "img/a.png", "raw": {"question": "q", "groundtruth": "g"}},  # repeat
    "not an object",
    {"id": "9", "image": "img/a.png", "raw": {"question": "q" * 5000, "groundtruth": "g"}},
]


def test_good_file_reads_every_row(tmp_path: Path) -> None:
    result = read_fire_file(_write(tmp_path, GOOD))
    assert [i.item_id for i in result.items] == ["1", "2"] and not result.skipped
    assert result.items[0].image == (tmp_path / "img" / "a.png").read_bytes()


def test_bad_rows_are_counted_by_reason(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD + BAD)
    with pytest.raises(ItemFileError, match="10 rows skipped") as err:
        read_fire_file(path)
    assert "missing or empty id" in str(err.value) and "--skip-bad" in str(err.value)
    result = read_fire_file(path, skip_bad=True)
    assert [i.item_id for i in result.items] == ["1", "2"]
    assert result.skipped == {
        "missing or empty id": 1, "missing or empty image": 1, "missing raw": 1,
        "missing or empty raw.question": 1, "missing or empty raw.groundtruth": 1,
        "image file not found": 1, "image is not PNG or JPEG": 1, "repeated id": 1,
        "row is not an object": 1, "raw.question over 4000 characters": 1}


@pytest.mark.parametrize("content", ["", "{not json", '{"id": 1}', "[]", '"text"', "\xff"])
def test_unusable_files_are_refused(tmp_path: Path, content: str) -> None:
    with pytest.raises(ItemFileError):
        read_fire_file(_write(tmp_path, content), skip_bad=True)
    with pytest.raises(ItemFileError, match="no such file"):
        read_fire_file(tmp_path / "absent.json")


def test_demo_items_are_held_out_and_reproducible() -> None:
    a, b = demo_items(30), demo_items(30)
    assert [(i.item_id, i.image_sha256) for i in a] == [(i.item_id, i.image_sha256) for i in b]
    assert all(int(i.item_id.split("-")[1]) >= 10_000_000 for i in a)  # HELD_OUT_SEEDS
    with pytest.raises(ItemFileError):
        demo_items(0)


def test_import_writes_all_or_nothing(tmp_path: Path, pg_url: str) -> None:
    """What `arena fire import` does, on PostgreSQL: a refused file stores nothing, the
    good rows of a file read with skip_bad are stored once, a set is never overwritten."""
    asyncio.run(_import_all_or_nothing(pg_url, tmp_path, f"s-{uuid.uuid4().hex[:8]}"))


async def _import_all_or_nothing(db: str, tmp: Path, name: str) -> None:
    from sqlalchemy import func, select

    from app.db.fire_tables import FireItem
    from app.db.session import make_engine, make_sessionmaker
    from app.fire.runs import FireRunError, import_file
    from app.storage.blobs import LocalBlobStore

    bad = _write(tmp, GOOD + BAD)
    other = tmp / "other"
    other.mkdir()
    changed = _write(other, [{**GOOD[0], "raw": {"question": "What colour?",
                                                  "groundtruth": "blue"}}])
    blobs = LocalBlobStore(tmp / "blobs")
    engine = make_engine(db)
    sm = make_sessionmaker(engine)

    async def count() -> int:
        async with sm() as session:
            return int(await session.scalar(select(func.count()).select_from(FireItem)
                                                .where(FireItem.item_set == name)))

    try:
        with pytest.raises(ItemFileError, match="repeated id"):
            await import_file(sm, blobs, bad, name)
        assert await count() == 0
        assert await import_file(sm, blobs, bad, name, skip_bad=True) == (
            2, "2 items, 10 rows skipped (1 image file not found, 1 image is not PNG or "
               "JPEG, 1 missing or empty id, 1 missing or empty image, 1 missing or empty "
               "raw.groundtruth, 1 missing or empty raw.question, 1 missing raw, 1 "
               "raw.question over 4000 characters, 1 repeated id, 1 row is not an object)")
        assert (await import_file(sm, blobs, bad, name, skip_bad=True))[0] == 2
        assert await count() == 2
        with pytest.raises(FireRunError, match="already holds other content"):
            await import_file(sm, blobs, changed, name)
        assert await count() == 2
    finally:
        await engine.dispose()
