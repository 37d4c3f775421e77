"""The DPO dataset: preference pairs as TRL's DPOTrainer loads them, as they are.

A folder with ``data/train-0000i-of-0000n.parquet`` (a new shard every ``MAX_SHARD_BYTES``),
a dataset card (README.md) and ``manifest.json``, written by app/release's writer, card and
manifest; ``datasets.load_dataset(folder)`` reads it. Columns:

- ``id`` (str), ``images`` (list of HF ``Image``: ``{bytes, path}``);
- ``prompt``: conversational, ``[{role: "user", content: [{type: "image"}, {type: "text",
  text}]}]`` (one image part per image, before the question);
- ``chosen`` / ``rejected``: ``[{role: "assistant", content: [{type: "text", text}]}]``;
- ``source`` ("ai" | "human"), ``chosen_model``, ``rejected_model``, ``chosen_score``,
  ``rejected_score`` (float or null: human pairs have none), ``chosen_is_longest``,
  ``judge_rates_itself`` (bool), ``judge`` (str or null).

The folder is written under a temporary name and renamed when complete: bad rows (empty
text, a duplicate id, an unreadable image) stop the export before anything is visible.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from PIL import Image, UnidentifiedImageError

from app.feedback.folders import ExportError, Manifest, staged_folder
from app.feedback.pairs import is_longer
from app.release.card import ConfigCard, DatasetCard, write_card
from app.release.features import IMAGE_STRUCT, hf_features
from app.release.manifest import write_manifest
from app.release.writer import ShardedParquetWriter

FORMAT = "vlm-arena-dpo"
VERSION = 1
MAX_SHARD_BYTES = 256 * 1024 * 1024
_CONTENT = pa.list_(pa.struct([("type", pa.string()), ("text", pa.string())]))
_MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", _CONTENT)]))
SCHEMA = pa.schema([
    ("id", pa.string()), ("images", pa.list_(IMAGE_STRUCT)), ("prompt", _MESSAGES),
    ("chosen", _MESSAGES), ("rejected", _MESSAGES), ("source", pa.string()),
    ("chosen_model", pa.string()), ("rejected_model", pa.string()),
    ("chosen_score", pa.float64()), ("rejected_score", pa.float64()),
    ("chosen_is_longest", pa.bool_()), ("judge_rates_itself", pa.bool_()),
    ("judge", pa.string()),
])
IMAGE_COLUMNS = ("images",)
SUMMARY = """Preference pairs for DPO, in the format TRL's DPOTrainer loads as it is:
a conversational `prompt` with the image, `chosen` and `rejected` assistant messages and
the `images`. `source` says whether a pair comes from AI ratings (VLFeedback's rule) or a
person's decisive vote in the arena. Read the results of training on it against its
controls: `chosen_is_longest` (the "longest answer is best" baseline would have chosen the
same) and `judge_rates_itself` (the judge is one of the two models)."""


@dataclass(frozen=True)
class DpoRow:
    """One pair. ``images``: encoded image files (PNG, JPEG...) shown before the question.
    ``chosen_is_longest`` left as None is computed from the two texts."""

    id: str
    prompt: str
    chosen: str
    rejected: str
    images: tuple[bytes, ...]
    source: Literal["ai", "human"]
    chosen_model: str
    rejected_model: str
    chosen_score: float | None = None
    rejected_score: float | None = None
    judge: str | None = None
    judge_rates_itself: bool = False
    chosen_is_longest: bool | None = None


def _check(row: DpoRow, n: int) -> None:
    where = f"row {n} (id {row.id!r})"
    if not isinstance(row.id, str) or not row.id:
        raise ExportError(f"row {n}: id must be a non-empty string")
    for name in ("prompt", "chosen", "rejected", "chosen_model", "rejected_model"):
        value = getattr(row, name)
        if not isinstance(value, str) or not value.strip():
            raise ExportError(f"{where}: {name} must be a non-empty string")
    if row.source not in ("ai", "human"):
        raise ExportError(f"{where}: source must be 'ai' or 'human', got {row.source!r}")
    for name in ("chosen_score", "rejected_score"):
        value = getattr(row, name)
        if value is not None and (not isinstance(value, int | float) or not math.isfinite(value)):
            raise ExportError(f"{where}: {name} must be a finite number or None")
    if not row.images:
        raise ExportError(f"{where}: no image")
    for k, data in enumerate(row.images):
        if not isinstance(data, bytes | bytearray) or not data:
            raise ExportError(f"{where}: image {k} is empty")
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.verify()
        except (UnidentifiedImageError, OSError, SyntaxError) as exc:
            raise ExportError(f"{where}: image {k} is not a readable image ({exc})") from exc


def _message(role: str, text: str, images: int = 0) -> list[dict[str, Any]]:
    parts = [{"type": "image", "text": None}] * images + [{"type": "text", "text": text}]
    return [{"role": role, "content": parts}]


def _record(row: DpoRow) -> dict[str, Any]:
    longest = (is_longer(row.chosen, row.rejected) if row.chosen_is_longest is None
               else bool(row.chosen_is_longest))
    return {
        "id": row.id, "images": [{"bytes": bytes(b), "path": None} for b in row.images],
        "prompt": _message("user", row.prompt, len(row.images)),
        "chosen": _message("assistant", row.chosen),
        "rejected": _message("assistant", row.rejected), "source": row.source,
        "chosen_model": row.chosen_model, "rejected_model": row.rejected_model,
        "chosen_score": None if row.chosen_score is None else float(row.chosen_score),
        "rejected_score": None if row.rejected_score is None else float(row.rejected_score),
        "chosen_is_longest": longest, "judge_rates_itself": bool(row.judge_rates_itself),
        "judge": row.judge,
    }


def write_dpo_dataset(rows: Iterable[DpoRow], folder: Path, *, overwrite: bool = False,
                      max_shard_bytes: int = MAX_SHARD_BYTES) -> Manifest:
    """Write ``rows`` as a DPO dataset folder (see the module docstring); its manifest."""
    seen: set[str] = set()
    counts = {"ai": 0, "human": 0, "chosen_is_longest": 0, "judge_rates_itself": 0}
    with staged_folder(Path(folder), overwrite=overwrite) as tmp:
        with ShardedParquetWriter(tmp, "data", SCHEMA, image_columns=IMAGE_COLUMNS,
                                  shard_bytes=max_shard_bytes) as writer:
            for n, row in enumerate(rows):
                _check(row, n)
                if row.id in seen:
                    raise ExportError(f"row {n}: duplicate id {row.id!r}")
                seen.add(row.id)
                record = _record(row)
                counts[row.source] += 1
                counts["chosen_is_longest"] += record["chosen_is_longest"]
                counts["judge_rates_itself"] += record["judge_rates_itself"]
                writer.write(record)
            if not seen:
                raise ExportError("no pairs to export")
            shards = writer.close()
        write_card(tmp, DatasetCard(
            pretty_name="vlm-arena DPO pairs", license="other", summary=SUMMARY,
            configs=[ConfigCard("default", hf_features(SCHEMA, IMAGE_COLUMNS),
                                "data/train-*.parquet", shards.rows, shards.bytes,
                                default=True)],
            task_categories=["image-text-to-text"], tags=["dpo", "preference", "vlm-arena"]))
        written = write_manifest(tmp, {"format": FORMAT, "version": VERSION,
                                       "rows": shards.rows, "counts": counts})
    return Manifest.of(written)
