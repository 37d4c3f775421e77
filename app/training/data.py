"""Reading a DPO dataset folder for training, with clear errors for anything unusable.

The folder is the DPO export's contract (app/feedback/dpo_export.py): parquet under data/,
loadable by `datasets.load_dataset(folder)`. Checked before any model is loaded, so a bad
folder costs nothing and writes nothing.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from app.training.settings import TrainingError

REQUIRED_COLUMNS = ("id", "images", "prompt", "chosen", "rejected", "source")
SOURCES = ("ai", "human")
MANIFEST = "manifest.json"


class TrainingDataError(TrainingError):
    """The data folder can not be trained on; the message says why."""


@dataclass(frozen=True)
class PreferenceData:
    """A loaded DPO dataset and what a model card says about it."""

    folder: Path
    dataset: Any  # datasets.Dataset
    sources: dict[str, int]
    sha256: str  # of manifest.json when present, else of the parquet files in name order
    sha256_of: str

    @property
    def rows(self) -> int:
        return len(self.dataset)


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def message_text(messages: Any) -> str:
    """The text of a conversational turn list ([{role, content: [{type, text}]}])."""
    if not isinstance(messages, list):
        return ""
    parts = []
    for m in messages:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [p.get("text") or "" for p in content if isinstance(p, dict)]
    return "".join(parts)


def load_preferences(folder: Path) -> PreferenceData:
    """Load and check a DPO dataset folder: columns, sources, non-empty texts and images."""
    import datasets

    folder = Path(folder)
    if not folder.is_dir():
        raise TrainingDataError(f"data folder {folder} does not exist or is not a folder")
    parquet = sorted(folder.rglob("*.parquet"))
    if not parquet:
        raise TrainingDataError(f"data folder {folder} holds no parquet files (expected the "
                                "DPO export: data/train-*.parquet)")
    try:
        ds = datasets.load_dataset(str(folder), split="train")
    except Exception as exc:  # datasets raises many types for unreadable folders
        raise TrainingDataError(f"data folder {folder} can not be loaded: {exc}") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in ds.column_names]
    if missing:
        raise TrainingDataError(f"data folder {folder} lacks the columns {missing} "
                                f"(has {ds.column_names})")
    if len(ds) == 0:
        raise TrainingDataError(f"data folder {folder} has no pairs")
    text = ds.select_columns(["id", "chosen", "rejected", "source", "prompt"])
    sources: Counter[str] = Counter()
    for n, row in enumerate(text):
        if row["source"] not in SOURCES:
            raise TrainingDataError(f"row {n} (id {row['id']!r}): source must be one of "
                                    f"{SOURCES}, got {row['source']!r}")
        sources[row["source"]] += 1
        for column in ("prompt", "chosen", "rejected"):
            if not message_text(row[column]).strip():
                raise TrainingDataError(f"row {n} (id {row['id']!r}): {column} has no text")
    images = ds.select_columns(["images"]).cast_column(
        "images", datasets.List(datasets.Image(decode=False)))
    for n, row in enumerate(images):
        if not row["images"]:
            raise TrainingDataError(f"row {n}: no image")
        for k, image in enumerate(row["images"]):
            try:
                with Image.open(io.BytesIO(image["bytes"] or b"")) as img:
                    img.verify()
            except (OSError, SyntaxError, ValueError) as exc:
                raise TrainingDataError(f"row {n}: image {k} is not a readable image "
                                        f"({exc})") from exc
    manifest = folder / MANIFEST
    if manifest.is_file():
        sha, of = _digest([manifest]), MANIFEST
    else:
        sha, of = _digest(parquet), "the parquet files"
    return PreferenceData(folder, ds, dict(sorted(sources.items())), sha, of)
