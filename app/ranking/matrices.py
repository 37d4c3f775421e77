"""Pairwise matrices for the leaderboard: battle counts, observed and predicted win rates."""

from __future__ import annotations

import numpy as np

from app.ranking.battles import Battles, FloatArray
from app.ranking.pairs import BothBad, aggregate_pairs
from app.ranking.results import BradleyTerryResult


def battle_count_matrix(battles: Battles, *, bothbad: BothBad = "tie") -> FloatArray:
    """``C[i, j]`` = battles between models i and j (either side); symmetric."""
    c = aggregate_pairs(battles, bothbad=bothbad)
    out = np.zeros((len(battles.models),) * 2)
    out[c.i, c.j] = c.totals
    out[c.j, c.i] = c.totals
    return out


def win_rate_matrix(battles: Battles, *, bothbad: BothBad = "tie") -> FloatArray:
    """``W[i, j]`` = share of i-vs-j battles that i won, ties counting half; NaN if none.

    ``W[i, j] + W[j, i] == 1`` wherever the pair met.
    """
    c = aggregate_pairs(battles, bothbad=bothbad)
    m = len(battles.models)
    wins = np.zeros((m, m))
    wins[c.i, c.j] = c.wins_i + 0.5 * c.ties
    wins[c.j, c.i] = c.wins_j + 0.5 * c.ties
    totals = battle_count_matrix(battles, bothbad=bothbad)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, wins / totals, np.nan)


def predicted_win_matrix(result: BradleyTerryResult) -> FloatArray:
    """``P[i, j]`` = modelled probability that i beats j (from logits); NaN diagonal."""
    diff = result.logits[:, None] - result.logits[None, :]
    out = 1.0 / (1.0 + np.exp(-diff))
    np.fill_diagonal(out, np.nan)
    return out
