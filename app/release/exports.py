"""Exports that other tools load unchanged.

- **replay** configuration: the first prompt and image of every Chat conversation that has
  an image, in VisionArena-Chat's shape, which vLLM's serving benchmark reads
  (``VisionArenaDataset``: ``conversation[0][0]["content"]`` and ``images[0]``). Replay the
  arena's prompts against a vLLM server with ``REPLAY_COMMAND``.
- **leaderboard** JSON in lmarena's public catalog shape (category → model → rating with
  lower and upper bounds, vote count, rank), beside our own boards, from the latest stored
  leaderboard snapshot (read through ``app.leaderboard.snapshots.latest_snapshot``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy.ext.asyncio import AsyncSession

from app.leaderboard.compute import OVERALL
from app.leaderboard.snapshots import latest_snapshot
from app.release.manifest import json_bytes
from app.release.rows import IMAGES

_MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
REPLAY_SCHEMA = pa.schema([
    ("conversation_id", pa.string()),
    ("model", pa.string()),
    ("conversation", pa.list_(pa.list_(_MESSAGE))),
    ("images", IMAGES),
])
REPLAY_COMMAND = (
    "vllm bench serve --backend openai-chat --endpoint /v1/chat/completions "
    "--base-url http://127.0.0.1:8000 --model MODEL --dataset-name hf "
    "--dataset-path {folder} --hf-subset replay --hf-split train "
    "--hf-name lmarena-ai/VisionArena-Chat --num-prompts {n}"
)
CATALOG = "leaderboard/lmarena_catalog.json"
OURS = "leaderboard/arena_boards.json"


def replay_row(chat_row: dict[str, Any]) -> dict[str, Any] | None:
    """The replay row of a Chat row (its first user turn and its image), or None."""
    if not chat_row["images"] or not chat_row["conversation"]:
        return None
    return {"conversation_id": chat_row["conversation_id"].rsplit("-", 1)[0],
            "model": chat_row["model"],
            "conversation": [[chat_row["conversation"][0][0]]],
            "images": chat_row["images"][:1]}


def catalog_category(kind: str, slice_: str) -> str:
    """lmarena's category names: ``full`` overall, the slice's name otherwise; the
    style-controlled boards get ``_style_control`` appended."""
    name = "full" if slice_ == OVERALL else slice_
    return name if kind == "default" else f"{name}_style_control"


async def write_leaderboards(session: AsyncSession, root: Path) -> dict[str, Any]:
    """Write both JSON files from the latest snapshot; returns what the manifest records
    ({} when the arena has no snapshot yet: then no leaderboard files)."""
    first = await latest_snapshot(session)
    if first is None or not first.snapshot.payload.get("rows"):
        return {}
    catalog: dict[str, dict[str, Any]] = {}
    boards = []
    for kind in first.kinds:
        for slice_ in first.slices:
            view = await latest_snapshot(session, kind, slice_)
            if view is None or (view.snapshot.kind, view.snapshot.slice) != (kind, slice_):
                continue
            snap = view.snapshot
            rows = snap.payload.get("rows", [])
            catalog[catalog_category(kind, slice_)] = {
                r["model"]: {"rating": r["rating"], "rating_lower": r["ci_lower"],
                             "rating_upper": r["ci_upper"], "vote_count": r["votes"],
                             "rank": r["rank"]}
                for r in rows}
            boards.append({"kind": kind, "slice": slice_, "rows": rows,
                           "battles": snap.n_battles_used})
    (root / "leaderboard").mkdir(exist_ok=True)
    (root / CATALOG).write_bytes(json_bytes(catalog))
    (root / OURS).write_bytes(json_bytes({"cutoff": first.snapshot.cutoff.isoformat(),
                                          "code_version": first.snapshot.code_version,
                                          "boards": boards}))
    return {"cutoff": first.snapshot.cutoff.isoformat(), "run_id": str(first.snapshot.run_id),
            "categories": sorted(catalog)}
