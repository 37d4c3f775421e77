"""The typed per-battle record that cleaning works on, and its conversion to columns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from app.ranking.battles import STYLE_FEATURES, Battles, Outcome
from app.ranking.slices import SliceTags
from app.ranking.style import StyleCounts

FinishStatus = Literal["finished", "failed", "incomplete"]


@dataclass(frozen=True, slots=True)  # slots: a million of them in a leaderboard run
class BattleRecord:
    """One battle as exported from the database (texts per turn, oldest first)."""

    battle_id: str
    model_a: str
    model_b: str
    winner: Outcome | None
    anonymous: bool
    tstamp: float  # seconds since the epoch, UTC
    visitor_id: str
    ip_hash: str
    answers_a: tuple[str, ...] = ()
    answers_b: tuple[str, ...] = ()
    user_turns: tuple[str, ...] = ()
    status_a: FinishStatus = "finished"
    status_b: FinishStatus = "finished"
    removed: bool = False
    visitor_banned: bool = False
    model_a_excluded: bool = False
    model_b_excluded: bool = False
    prompt_hash: str = ""
    language: str = "unknown"
    categories: frozenset[str] = frozenset()
    turns: int = 1
    style_a: StyleCounts | None = None
    style_b: StyleCounts | None = None


def battles_from_records(records: Sequence[BattleRecord],
                         models: Sequence[str] | None = None) -> Battles:
    """Columns for the fitting code; style counts are included when every record has them.

    Every record needs a winner (clean first).
    """
    if any(r.winner is None for r in records):
        raise ValueError("records without a vote cannot be ranked; clean them first")
    with_style = bool(records) and all(r.style_a and r.style_b for r in records)
    style_a = style_b = None
    if with_style:
        style_a = np.array([r.style_a.as_tuple() for r in records], np.float64)  # type: ignore[union-attr]
        style_b = np.array([r.style_b.as_tuple() for r in records], np.float64)  # type: ignore[union-attr]
    return Battles.from_names(
        [r.model_a for r in records], [r.model_b for r in records],
        [r.winner for r in records],  # type: ignore[misc]
        tstamp=[r.tstamp for r in records], style_a=style_a, style_b=style_b, models=models,
        style_features=STYLE_FEATURES if with_style else None)


def slice_tags_from_records(records: Sequence[BattleRecord]) -> SliceTags:
    return SliceTags([r.categories for r in records], [r.language for r in records],
                     [r.turns for r in records])
