"""A ratings run (and the arena's decisive votes) to the two dataset folders and the
agreement, written as one folder: ``vlfeedback/``, ``dpo/`` and ``agreement.json``.

Images come from the blob store; a pair or item whose image is gone is left out and
counted. The files are written off the event loop (PIL, Arrow) and under a temporary name
(app/feedback/folders.py), so a failed export leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.feedback.agreement import agreement
from app.feedback.dpo_export import DpoRow, write_dpo_dataset
from app.feedback.folders import ExportError, Manifest, staged_folder
from app.feedback.pairs import (
    FeedbackItem,
    PairRecord,
    ai_pairs,
    human_pairs,
    summarise,
)
from app.feedback.store import agreement_items, run_items
from app.feedback.vlfeedback_export import write_vlfeedback
from app.leaderboard.load import load_battle_records
from app.storage.blobs import BlobNotFound, LocalBlobStore


@dataclass
class ExportResult:
    folder: Path
    vlfeedback: Manifest
    dpo: Manifest
    agreement: dict[str, Any]
    counts: dict[str, Any] = field(default_factory=dict)


def dpo_row(pair: PairRecord, image: bytes) -> DpoRow:
    return DpoRow(id=pair.id, prompt=pair.prompt, chosen=pair.chosen, rejected=pair.rejected,
                  images=(image,), source=pair.source, chosen_model=pair.chosen_model,
                  rejected_model=pair.rejected_model, chosen_score=pair.chosen_score,
                  rejected_score=pair.rejected_score, judge=pair.judge,
                  judge_rates_itself=pair.judge_rates_itself,
                  chosen_is_longest=pair.chosen_is_longest)


async def _images(blobs: LocalBlobStore, shas: set[str]) -> dict[str, bytes]:
    found = {}
    for sha in sorted(shas):
        try:
            found[sha] = await blobs.get(sha)
        except BlobNotFound:
            continue
    return found


async def collect(sessionmaker: async_sessionmaker, run_id: uuid.UUID, *, margin: float = 0.0,
                  weights: Mapping[str, float] | None = None, human: bool = True
                  ) -> tuple[list[FeedbackItem], list[PairRecord], Counter[str]]:
    """The run's items, their AI pairs plus (``human``) the arena's human pairs, and the
    battles that gave no human pair, by reason."""
    async with sessionmaker() as session:
        items = await run_items(session, run_id)
        if not items:
            raise ExportError(f"run {run_id} has no VLFeedback ratings")
        battles = await load_battle_records(session) if human else []
        await session.commit()
    pairs = [p for item in items for p in ai_pairs(item, margin=margin, weights=weights)]
    skipped: Counter[str] = Counter()
    if human:
        hp, skipped = human_pairs(battles)
        pairs += hp
    return items, pairs, skipped


async def export_run(sessionmaker: async_sessionmaker, blobs: LocalBlobStore,
                     run_id: uuid.UUID, folder: Path, *, margin: float = 0.0,
                     weights: Mapping[str, float] | None = None, human: bool = True,
                     overwrite: bool = False) -> ExportResult:
    items, pairs, skipped = await collect(sessionmaker, run_id, margin=margin,
                                          weights=weights, human=human)
    judges = sorted({i.judge for i in items})
    async with sessionmaker() as session:
        agree_rows, agree_skipped = await agreement_items(session)
    report = agreement(r for r in agree_rows if r.judge in judges).as_json()
    report["left_out"] = agree_skipped
    images = await _images(blobs, {i.image_sha256 for i in items}
                           | {p.image_sha256 for p in pairs})
    kept_items = [i for i in items if i.image_sha256 in images]
    rows = [dpo_row(p, images[p.image_sha256]) for p in pairs if p.image_sha256 in images]
    summary = summarise(items, [p for p in pairs if p.source == "ai"])
    counts: dict[str, Any] = {
        "run_id": str(run_id), "judges": judges, "margin": margin,
        "weights": dict(weights) if weights else None, **summary.as_json(),
        "human_pairs": sum(p.source == "human" for p in pairs),
        "human_skipped": dict(skipped),
        "missing_images": {"items": len(items) - len(kept_items),
                           "pairs": len(pairs) - len(rows)},
    }

    def write() -> ExportResult:
        with staged_folder(folder, overwrite=overwrite) as tmp:
            vlf = write_vlfeedback(kept_items, images.__getitem__, tmp / "vlfeedback",
                                   extra={"run_id": str(run_id), "agreement": report})
            dpo = write_dpo_dataset(rows, tmp / "dpo")
            (tmp / "agreement.json").write_text(json.dumps(report, indent=2, sort_keys=True)
                                                + "\n", encoding="utf-8")
            (tmp / "export.json").write_text(json.dumps(counts, indent=2, sort_keys=True)
                                             + "\n", encoding="utf-8")
        return ExportResult(Path(folder), vlf, dpo, report, counts)

    return await asyncio.to_thread(write)
