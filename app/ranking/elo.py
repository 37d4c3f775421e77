"""Online Elo: ratings updated battle by battle in time order.

Elo is inherently sequential (each update depends on the previous ones), so it cannot be
vectorised across battles. A tight loop over plain Python floats with one ``exp`` per
battle handles a million battles in about 0.4 s here, which meets the target without a
compiler; see benchmarks/README.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from app.ranking.battles import A_WINS, B_WINS, Battles, FloatArray

_SCORE_A = np.array([1.0, 0.0, 0.5, 0.5])  # indexed by outcome code


@dataclass(frozen=True, eq=False)
class EloResult:
    models: tuple[str, ...]
    ratings: FloatArray
    n_battles: np.ndarray
    k: float
    base: float
    scale: float
    initial: float


def fit_online_elo(
    battles: Battles,
    *,
    k: float = 4.0,
    base: float = 10.0,
    scale: float = 400.0,
    initial: float = 1000.0,
) -> EloResult:
    """Classic Elo in time order (by ``tstamp`` when given, stable; else row order).

    Expected score of A is ``1 / (1 + base ** ((R_b - R_a) / scale))``; a tie (either kind)
    scores 0.5. Each update moves A and B by the same amount in opposite directions, so
    the sum of ratings stays ``initial * n_models``.
    """
    a, b, outcome = battles.model_a, battles.model_b, battles.outcome
    if battles.tstamp is not None:
        order = np.argsort(battles.tstamp, kind="stable")
        a, b, outcome = a[order], b[order], outcome[order]
    ratings = _elo_loop(a.tolist(), b.tolist(), _SCORE_A[outcome].tolist(),
                        len(battles.models), k, math.log(base) / scale, initial)
    assert A_WINS == 0 and B_WINS == 1  # _SCORE_A relies on the code order
    return EloResult(battles.models, np.array(ratings), battles.battles_per_model(),
                     k, base, scale, initial)


def _elo_loop(a: list[int], b: list[int], score: list[float], n_models: int, k: float,
              c: float, initial: float) -> list[float]:
    r = [float(initial)] * n_models
    exp = math.exp
    for i, j, s in zip(a, b, score, strict=True):
        ri = r[i]
        rj = r[j]
        d = k * (s - 1.0 / (1.0 + exp(c * (rj - ri))))
        r[i] = ri + d
        r[j] = rj - d
    return r
