"""Aggregate battles into per-pair counts, the sufficient statistics of Bradley-Terry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from app.ranking.battles import A_WINS, B_WINS, BOTHBAD, TIE, Battles, FloatArray, IntArray

BothBad = Literal["tie", "drop"]


@dataclass(frozen=True, eq=False)
class PairCounts:
    """Counts per unordered pair ``i < j``: wins of ``i``, wins of ``j``, ties.

    Sides (who was shown as A) are pooled: plain Bradley-Terry has no position effect.
    """

    models: tuple[str, ...]
    i: IntArray
    j: IntArray
    wins_i: FloatArray
    wins_j: FloatArray
    ties: FloatArray

    @property
    def totals(self) -> FloatArray:
        return self.wins_i + self.wins_j + self.ties

    @property
    def cells(self) -> FloatArray:
        """``(pairs, 3)`` counts: wins_i, wins_j, ties."""
        return np.stack([self.wins_i, self.wins_j, self.ties], axis=1)


def outcome_mask(battles: Battles, bothbad: BothBad) -> np.ndarray:
    if bothbad not in ("tie", "drop"):
        raise ValueError("bothbad must be 'tie' or 'drop'")
    return battles.outcome != BOTHBAD if bothbad == "drop" else np.ones(len(battles), bool)


def aggregate_pairs(battles: Battles, *, bothbad: BothBad = "tie") -> PairCounts:
    """Count wins and ties per unordered pair; "tie (bothbad)" is a tie or dropped."""
    keep = outcome_mask(battles, bothbad)
    a, b, o = battles.model_a[keep], battles.model_b[keep], battles.outcome[keep]
    m = len(battles.models)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    first_won = ((o == A_WINS) & (a < b)) | ((o == B_WINS) & (a > b))
    second_won = ((o == B_WINS) & (a < b)) | ((o == A_WINS) & (a > b))
    category = np.where(first_won, 0, np.where(second_won, 1, 2))
    assert TIE == 2 and BOTHBAD == 3
    key = lo * m + hi
    if m * m * 3 <= 50_000_000:
        counts = np.bincount(key * 3 + category, minlength=m * m * 3).reshape(m * m, 3)
        keys = np.flatnonzero(counts.sum(axis=1))
        counts = counts[keys]
    else:
        keys, inverse = np.unique(key, return_inverse=True)
        counts = np.bincount(inverse * 3 + category, minlength=keys.size * 3).reshape(-1, 3)
    counts = counts.astype(np.float64)
    return PairCounts(battles.models, keys // m, keys % m,
                      counts[:, 0], counts[:, 1], counts[:, 2])


def components(n_models: int, i: IntArray, j: IntArray) -> IntArray:
    """Connected component label per model of the comparison graph."""
    graph = sparse.coo_matrix((np.ones(i.size), (i, j)), shape=(n_models, n_models))
    return connected_components(graph, directed=False)[1].astype(np.int64)


def incidence(n_models: int, i: IntArray, j: IntArray) -> sparse.csr_matrix:
    """``(pairs, models)`` matrix with +1 at ``i`` and -1 at ``j``."""
    rows = np.repeat(np.arange(i.size), 2)
    cols = np.stack([i, j], axis=1).reshape(-1)
    vals = np.tile([1.0, -1.0], i.size)
    return sparse.csr_matrix((vals, (rows, cols)), shape=(i.size, n_models))
