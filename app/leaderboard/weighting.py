"""Which battle weighting a configured arena's boards use: pair-frequency reweighting,
except under adaptive pair sampling, whose pair frequencies are designed from past votes
(ignorable for the likelihood) and would be undone by reweighting (app/ranking/adaptive.py);
there the board is the unweighted MLE."""

from __future__ import annotations

from typing import Any

from app.ranking.reweighting import NONE, PAIR_FREQUENCY, Reweighting


def board_reweighting(settings: Any, *, reweight: bool = True) -> Reweighting:
    if not reweight or getattr(settings, "adaptive_sampling", False):
        return NONE
    return PAIR_FREQUENCY
