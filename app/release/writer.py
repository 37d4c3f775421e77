"""Streaming, sharded Parquet writing for releases: rows go out in small row groups, a
shard is closed once it reaches its size bound, and nothing but one row group is held in
memory. Files are named as on the Hugging Face hub (``train-00000-of-00003.parquet``).

Deterministic: the same rows in the same order give the same bytes (fixed compression,
row-group bounds that depend only on the rows, no timestamps in Parquet metadata; the
``created_by`` string only changes with the pyarrow version, which the manifest records).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from app.release.features import with_hf_metadata

DEFAULT_SHARD_BYTES = 500 * 1024 * 1024
# The hub's viewer and datasets' own writer use ~100 rows per row group for image data.
DEFAULT_GROUP_ROWS = 100
DEFAULT_GROUP_BYTES = 32 * 1024 * 1024
PARQUET_OPTIONS: dict[str, Any] = {"compression": "zstd", "compression_level": 3,
                                   "use_dictionary": True, "write_statistics": True,
                                   "version": "2.6"}


@dataclass(frozen=True)
class ShardSet:
    """What a writer wrote: final paths (relative to the release root), rows, bytes."""

    files: tuple[str, ...]
    rows: int
    bytes: int


def _row_bytes(row: Mapping[str, Any]) -> int:
    """A cheap size estimate of one row (what bounds a row group in memory): the images'
    bytes dominate, everything else counts as a kilobyte."""
    images = 0
    for value in row.values():
        if isinstance(value, list) and value and isinstance(value[0], Mapping) \
                and isinstance(value[0].get("bytes"), bytes):
            images += sum(len(v["bytes"] or b"") for v in value)
        elif isinstance(value, Mapping) and isinstance(value.get("bytes"), bytes):
            images += len(value["bytes"])
    return images + 1024


class ShardedParquetWriter:
    """Write rows to ``root/<subdir>/<split>-NNNNN-of-MMMMM.parquet``.

    ``write(row)`` buffers at most one row group (``group_rows`` rows or ``group_bytes``);
    a shard is closed when its file reaches ``shard_bytes`` (so a shard exceeds it by at
    most one row group). ``close()`` renames the shards to their final ``-of-`` names.
    Use as a context manager; on an exception the partial shards are deleted.
    """

    def __init__(self, root: Path, subdir: str, schema: pa.Schema, *,
                 image_columns: Collection[str] = (), split: str = "train",
                 shard_bytes: int = DEFAULT_SHARD_BYTES, group_rows: int = DEFAULT_GROUP_ROWS,
                 group_bytes: int = DEFAULT_GROUP_BYTES) -> None:
        if shard_bytes <= 0 or group_rows <= 0 or group_bytes <= 0:
            raise ValueError("shard and row-group bounds must be positive")
        self.root = Path(root)
        self.dir = self.root / subdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.schema = with_hf_metadata(schema, image_columns)
        self.split = split
        self.shard_bytes, self.group_rows, self.group_bytes = shard_bytes, group_rows, group_bytes
        self._buffer: list[dict[str, Any]] = []
        self._buffered_bytes = 0
        self._writer: pq.ParquetWriter | None = None
        self._sink: pa.OSFile | None = None
        self._parts: list[Path] = []
        self.rows = 0

    def _part(self, k: int) -> Path:
        return self.dir / f".{self.split}-{k:05d}.partial"

    def write(self, row: dict[str, Any]) -> None:
        self._buffer.append(row)
        self._buffered_bytes += _row_bytes(row)
        if len(self._buffer) >= self.group_rows or self._buffered_bytes >= self.group_bytes:
            self._flush()

    def write_all(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self.write(row)

    def _flush(self) -> None:
        if not self._buffer:
            return
        table = pa.Table.from_pylist(self._buffer, schema=self.schema)
        self._buffer, self._buffered_bytes = [], 0
        if self._writer is None:
            path = self._part(len(self._parts))
            self._parts.append(path)
            self._sink = pa.OSFile(str(path), "wb")
            self._writer = pq.ParquetWriter(self._sink, self.schema, **PARQUET_OPTIONS)
        self._writer.write_table(table, row_group_size=len(table))
        self.rows += len(table)
        assert self._sink is not None
        if self._sink.tell() >= self.shard_bytes:
            self._close_shard()

    def _close_shard(self) -> None:
        if self._writer is not None:
            self._writer.close()
            assert self._sink is not None
            self._sink.close()
            self._writer = self._sink = None

    def close(self) -> ShardSet:
        """Flush, close, and give the shards their final names. A writer that got no row
        writes one empty shard, so that every configuration has a file with its schema."""
        self._flush()
        self._close_shard()
        if not self._parts:
            path = self._part(0)
            pq.write_table(self.schema.empty_table(), path, **PARQUET_OPTIONS)
            self._parts.append(path)
        n = len(self._parts)
        files = []
        total = 0
        for k, part in enumerate(self._parts):
            final = self.dir / f"{self.split}-{k:05d}-of-{n:05d}.parquet"
            part.rename(final)
            total += final.stat().st_size
            files.append(str(final.relative_to(self.root)))
        self._parts = []
        return ShardSet(tuple(files), self.rows, total)

    def abort(self) -> None:
        self._buffer = []
        self._close_shard()
        for part in self._parts:
            part.unlink(missing_ok=True)
        self._parts = []

    def __enter__(self) -> ShardedParquetWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None:
            self.abort()
