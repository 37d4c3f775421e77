"""The VLFeedback export: the judge's ratings in VLFeedback's own schema.

One row per rated prompt: ``id``, ``prompt``, ``models``, ``completions`` (per answer:
``model``, ``response``, ``annotations`` with ``Helpfulness``, ``Visual Faithfulness`` and
``Ethical Considerations``, each ``{Rating, Rationale}``) and ``img_path`` (relative to the
folder: ``images/<sha256>.<ext>``). Ratings are integers 1-5 (VLFeedback's files write them
as strings). Prompts whose ratings did not parse are not rows; the manifest counts them.
``datasets.load_dataset(folder)`` reads ``data/train-00000-of-00001.parquet``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from app.feedback.folders import ExportError, Manifest, staged_folder
from app.feedback.pairs import FeedbackItem
from app.judges.results import ASPECTS
from app.release.card import ConfigCard, DatasetCard, write_card
from app.release.features import hf_features
from app.release.manifest import write_manifest
from app.release.writer import ShardedParquetWriter

FORMAT = "vlfeedback"
VERSION = 1
_ANNOTATION = pa.struct([("Rating", pa.int64()), ("Rationale", pa.string())])
_COMPLETION = pa.struct([
    ("model", pa.string()), ("response", pa.string()),
    ("annotations", pa.struct([(a, _ANNOTATION) for a in ASPECTS])),
])
SCHEMA = pa.schema([
    ("id", pa.string()), ("prompt", pa.string()), ("models", pa.list_(pa.string())),
    ("completions", pa.list_(_COMPLETION)), ("img_path", pa.string()),
])
SUMMARY = """AI feedback in VLFeedback's schema: per prompt, the k answers the arena's models
gave and the judge's ratings of each on Helpfulness, Visual Faithfulness and Ethical
Considerations (1-5, with a rationale). `img_path` is the image's file in this folder."""
_EXT = {b"\x89PNG": "png", b"\xff\xd8\xff": "jpg", b"GIF8": "gif", b"RIFF": "webp"}

ImageOf = Callable[[str], bytes]  # sha256 -> the image's bytes


def image_name(sha256: str, data: bytes) -> str:
    ext = next((e for magic, e in _EXT.items() if data.startswith(magic)), "bin")
    return f"images/{sha256}.{ext}"


def vlfeedback_row(item: FeedbackItem, img_path: str) -> dict[str, Any]:
    if item.ratings is None:
        raise ValueError(f"item {item.id} has no ratings")
    return {
        "id": item.id, "prompt": item.prompt, "models": list(item.models),
        "completions": [
            {"model": model, "response": answer,
             "annotations": {a: {"Rating": r[a].rating, "Rationale": r[a].rationale}
                             for a in ASPECTS}}
            for model, answer, r in zip(item.models, item.answers, item.ratings.answers,
                                        strict=True)],
        "img_path": img_path,
    }


def write_vlfeedback(items: Sequence[FeedbackItem], image_of: ImageOf, folder: Path, *,
                     overwrite: bool = False, extra: dict[str, Any] | None = None) -> Manifest:
    """Write the rated items (and their images) as a VLFeedback-schema folder."""
    rated = [i for i in items if i.ratings is not None]
    if not rated:
        raise ExportError(f"no rated prompt to export ({len(items)} prompts, none parsed)")
    with staged_folder(Path(folder), overwrite=overwrite) as tmp:
        (tmp / "images").mkdir()
        written: dict[str, str] = {}
        with ShardedParquetWriter(tmp, "data", SCHEMA) as writer:
            for item in rated:
                if item.image_sha256 not in written:
                    data = image_of(item.image_sha256)  # raises for a missing image
                    name = image_name(item.image_sha256, data)
                    (tmp / name).write_bytes(data)
                    written[item.image_sha256] = name
                writer.write(vlfeedback_row(item, written[item.image_sha256]))
            shards = writer.close()
        write_card(tmp, DatasetCard(
            pretty_name="vlm-arena VLFeedback ratings", license="other", summary=SUMMARY,
            configs=[ConfigCard("default", hf_features(SCHEMA), "data/train-*.parquet",
                                shards.rows, shards.bytes, default=True)],
            tags=["vlfeedback", "ai-feedback", "vlm-arena"]))
        counts = {"prompts": len(items), "rated": len(rated),
                  "unparsed": len(items) - len(rated), "images": len(written)}
        manifest = write_manifest(tmp, {"format": FORMAT, "version": VERSION,
                                        "rows": shards.rows, "counts": counts,
                                        **(extra or {})})
    return Manifest.of(manifest)
