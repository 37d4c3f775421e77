"""Audits of the overall board on the arena's own votes, stored with every run (snapshot
and the export's leaderboard.json):

- the tie-handling report (``app.ranking.ties``): held-out log-loss and accuracy of each
  way of counting ties, time split;
- the robustness audit (``app.ranking.robustness``): how far the top-k moves when the most
  influential 1% of votes, or of visitors, are dropped (visitors by their pseudonym).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.leaderboard.records import VotedBattle
from app.ranking import Battles, Reweighting, battle_count_matrix
from app.ranking.robustness import robustness_audit
from app.ranking.ties import held_out_report

MIN_VOTES = 50  # fewer counted votes: no audit (the later fifth would be a handful)
TOP_K = 10
DROP_SHARE = 0.01


def counted_battles(kept: Sequence[VotedBattle]) -> tuple[Battles, list[str]] | None:
    """The counted two-sided battles as columns, and each vote's visitor pseudonym."""
    two_sided = [b for b in kept if b.model_b is not None]
    if len(two_sided) < MIN_VOTES:
        return None
    battles = Battles.from_names(
        [b.model_a for b in two_sided], [b.model_b for b in two_sided],  # type: ignore[misc]
        [b.winner for b in two_sided],  # type: ignore[misc]
        tstamp=[b.voted_at.timestamp() for b in two_sided])
    return battles, [b.judge for b in two_sided]


def pair_counts(kept: Sequence[VotedBattle]) -> dict[str, Any] | None:
    """Counted battles per model pair (symmetric), for adaptive pair sampling."""
    two_sided = [b for b in kept if b.model_b is not None]
    if not two_sided:
        return None
    battles = Battles.from_names([b.model_a for b in two_sided],
                                 [b.model_b for b in two_sided],  # type: ignore[misc]
                                 [b.winner for b in two_sided])  # type: ignore[misc]
    matrix = battle_count_matrix(battles)
    return {"models": list(battles.models),
            "counts": [[int(v) for v in row] for row in matrix]}


def tie_report(kept: Sequence[VotedBattle], reweighting: Reweighting | None
               ) -> dict[str, Any] | None:
    counted = counted_battles(kept)
    if counted is None:
        return None
    return {**held_out_report(counted[0], train_share=0.8, reweighting=reweighting),
            "split": "time: the first 80% of votes fit, the last 20% scored"}


def robustness_report(kept: Sequence[VotedBattle], reweighting: Reweighting | None
                      ) -> dict[str, Any] | None:
    counted = counted_battles(kept)
    if counted is None:
        return None
    return robustness_audit(counted[0], k=TOP_K, share=DROP_SHARE, groups=counted[1],
                            reweighting=reweighting)
