"""The shared release machinery on its own: bounded shards streamed in row groups, the
hub's file names, deterministic bytes, the card's YAML equal to what datasets itself
would write for the same features, and a manifest that catches a changed file."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from app.release.card import ConfigCard, DatasetCard, card_yaml, write_card
from app.release.features import IMAGE_STRUCT, card_features, hf_features
from app.release.manifest import ManifestMismatch, verify_manifest, write_manifest
from app.release.writer import ShardedParquetWriter
from tests.release.traffic import shapes_image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
SCHEMA = pa.schema([("images", pa.list_(IMAGE_STRUCT)), ("id", pa.string()),
                    ("turns", pa.list_(pa.struct([("role", pa.string()),
                                                  ("content", pa.string())])))])


def write(root: Path, n: int, shard_bytes: int) -> tuple[list[bytes], tuple[str, ...]]:
    images = [shapes_image(k) for k in range(n)]
    with ShardedParquetWriter(root, "data/x", SCHEMA, image_columns=["images"],
                              shard_bytes=shard_bytes, group_rows=4) as w:
        for k, img in enumerate(images):
            w.write({"images": [{"bytes": img, "path": f"{k}.png"}], "id": str(k),
                     "turns": [{"role": "user", "content": f"q{k}"}]})
        shards = w.close()
    return images, shards.files


def test_shards_are_bounded_named_and_deterministic(tmp_path: Path) -> None:
    _, files = write(tmp_path / "a", 40, shard_bytes=6000)
    assert len(files) > 3
    assert files[0] == f"data/x/train-00000-of-{len(files):05d}.parquet"
    for f in files:
        meta = pq.ParquetFile(tmp_path / "a" / f).metadata
        groups = [sum(meta.row_group(g).column(c).total_compressed_size
                      for c in range(meta.num_columns)) for g in range(meta.num_row_groups)]
        # A shard closes at the first row group that takes it past the bound.
        assert sum(groups[:-1]) < 6000
        assert max(meta.row_group(g).num_rows for g in range(meta.num_row_groups)) <= 4
    _, again = write(tmp_path / "b", 40, shard_bytes=6000)
    assert [(tmp_path / "a" / f).read_bytes() for f in files] == \
        [(tmp_path / "b" / f).read_bytes() for f in again]
    assert not list((tmp_path / "a").rglob(".*"))


def test_card_yaml_matches_datasets_and_loads(tmp_path: Path) -> None:
    import datasets

    images, files = write(tmp_path, 10, shard_bytes=10**9)
    features = hf_features(SCHEMA, ["images"])
    assert card_features(features) == datasets.Features.from_dict(features)._to_yaml_list()
    card = DatasetCard("t", "cc-by-4.0", [ConfigCard("x", features, "data/x/train-*.parquet",
                                                     10, 1, default=True)], "summary")
    assert card_yaml(card)["size_categories"] == ["n<1K"]
    write_card(tmp_path, card)
    ds = datasets.load_dataset(str(tmp_path), "x", split="train",
                               cache_dir=str(tmp_path / ".cache"))
    assert ds.features == datasets.Features.from_dict(features)
    assert ds[3]["images"][0].size == (96, 96)


def test_manifest_catches_changed_missing_and_extra_files(tmp_path: Path) -> None:
    write(tmp_path, 3, shard_bytes=10**9)
    write_manifest(tmp_path, {"what": "test"})
    verify_manifest(tmp_path)
    (tmp_path / "extra.txt").write_text("x")
    with pytest.raises(ManifestMismatch, match="not in the manifest: extra.txt"):
        verify_manifest(tmp_path)
    (tmp_path / "extra.txt").unlink()
    shard = next((tmp_path / "data/x").glob("*.parquet"))
    shard.write_bytes(shard.read_bytes()[:-1] + b"!")
    with pytest.raises(ManifestMismatch, match="changed"):
        verify_manifest(tmp_path)
