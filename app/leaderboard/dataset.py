"""The released battles as Parquet in the VisionArena-Battle schema (as in lmarena-ai's
releases: ``conversation_*`` as role/content lists, style counts in ``conv_metadata``).

Images are not inlined: ``image_sha256`` is the key of the normalised image in the blob
store, so a release can ship them alongside. Rows are sorted by vote time, then id, and
the writer is fixed (no statistics timestamps, one row group), so the same battles give
the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from app.leaderboard.records import VotedBattle
from app.leaderboard.style_meta import conv_metadata

_I = pa.int64()
_MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


def _side(side: str) -> list[tuple[str, pa.DataType]]:
    return [
        (f"header_count_{side}", pa.struct([(f"h{k}", _I) for k in range(1, 7)])),
        (f"list_count_{side}", pa.struct([("ordered", _I), ("unordered", _I)])),
        (f"bold_count_{side}", pa.struct([("**", _I), ("__", _I)])),
    ]


CONV_METADATA = pa.struct([
    ("sum_user_tokens", _I),
    ("sum_assistant_a_tokens", _I),
    ("sum_assistant_b_tokens", _I),
    ("turns", _I),
    *_side("a"),
    *_side("b"),
])

SCHEMA = pa.schema([
    ("question_id", pa.string()),
    ("model_a", pa.string()),
    ("model_b", pa.string()),
    ("winner", pa.string()),
    ("judge", pa.string()),
    ("conversation_a", _MESSAGES),
    ("conversation_b", _MESSAGES),
    ("turn", _I),
    ("anony", pa.bool_()),
    ("language", pa.string()),
    ("tstamp", pa.float64()),
    ("categories", pa.list_(pa.string())),
    ("conv_metadata", CONV_METADATA),
    ("image_sha256", pa.string()),
    # Why the voter chose (null when no reasons were given): tags per side from a fixed
    # vocabulary (docs/data-dictionary.md maps them to VLFeedback and VL-RewardBench).
    ("vote_reasons", pa.struct([
        ("tags_a", pa.list_(pa.string())),
        ("tags_b", pa.list_(pa.string())),
        ("comment", pa.string()),
    ])),
    # Started from a preset (an image and question the arena drew), and which one. Out of
    # the ranking by default: such rows are in the release, not on the leaderboard.
    ("is_preset", pa.bool_()),
    ("preset", pa.string()),
])


def _conversation(battle: VotedBattle, side: str) -> list[dict[str, str]]:
    out = []
    for t in battle.turns:
        out.append({"role": "user", "content": t.prompt})
        out.append({"role": "assistant", "content": t.answer_a if side == "a" else t.answer_b})
    return out


def dataset_row(battle: VotedBattle) -> dict[str, Any]:
    return {
        "question_id": battle.battle_id.hex,
        "model_a": battle.model_a,
        "model_b": battle.model_b,
        "winner": battle.winner,
        "judge": battle.judge,
        "conversation_a": _conversation(battle, "a"),
        "conversation_b": _conversation(battle, "b"),
        "turn": len(battle.turns),
        "anony": battle.anonymous,
        "language": battle.language or "unknown",
        "tstamp": battle.voted_at.timestamp(),
        "categories": list(battle.categories),
        "conv_metadata": conv_metadata(battle),
        "image_sha256": battle.image_sha256,
        "vote_reasons": {"tags_a": list(battle.reason_tags_a),
                         "tags_b": list(battle.reason_tags_b),
                         "comment": battle.reason_comment} if battle.has_reasons else None,
        "is_preset": battle.is_preset,
        "preset": battle.preset,
    }


def releasable(battle: VotedBattle) -> bool:
    """Battles still waiting for a moderator (flagged by the gate) are not released, nor
    battles their owner deleted."""
    return battle.review_status not in ("review", "removed") and not battle.deleted


def write_battles_parquet(battles: Sequence[VotedBattle], path: Path) -> int:
    """Write the releasable battles; returns the row count."""
    rows = sorted((b for b in battles if releasable(b)),
                  key=lambda b: (b.voted_at, b.battle_id.hex))
    table = pa.Table.from_pylist([dataset_row(b) for b in rows], schema=SCHEMA)
    pq.write_table(table, path, compression="zstd", row_group_size=max(len(rows), 1))
    return len(rows)
