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
        (f"emoji_count_{side}", _I),
        (f"entity_count_{side}", _I),
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
    # Refinement (app/arena/refinement.py): a refinement battle (voted after a refinement
    # turn; its vote counts on the refinement board), every turn's kind (question |
    # refinement), and per refinement turn its feedback (the user message of that turn),
    # the turn it refines and the voter's 1-10 ratings of each side before (the refined
    # turn's answers) and after (the refinement's), null where not given.
    ("refinement_battle", pa.bool_()),
    ("turn_kinds", pa.list_(pa.string())),
    ("refinements", pa.list_(pa.struct([
        ("turn", _I), ("refines", _I), ("feedback", pa.string()),
        ("rating_a_before", _I), ("rating_b_before", _I),
        ("rating_a_after", _I), ("rating_b_after", _I),
    ]))),
])


def _conversation(battle: VotedBattle, side: str) -> list[dict[str, str]]:
    out = []
    for t in battle.turns:
        out.append({"role": "user", "content": t.prompt})
        out.append({"role": "assistant", "content": t.answer_a if side == "a" else t.answer_b})
    return out


def _refinements(battle: VotedBattle) -> list[dict[str, Any]]:
    out = []
    for index, t in enumerate(battle.turns):
        if t.kind != "refinement" or t.refines is None:
            continue
        before = battle.turns[t.refines]
        out.append({"turn": index, "refines": t.refines, "feedback": t.prompt,
                    "rating_a_before": before.rating_a, "rating_b_before": before.rating_b,
                    "rating_a_after": t.rating_a, "rating_b_after": t.rating_b})
    return out


def dataset_row(battle: VotedBattle) -> dict[str, Any]:
    if battle.facts is not None and not battle.turns:  # never release empty conversations
        raise ValueError("a battle read for ranking only has no texts to release "
                         "(compute_run(..., texts=True))")
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
        "refinement_battle": battle.refinement,
        "turn_kinds": [t.kind for t in battle.turns],
        "refinements": _refinements(battle),
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
