"""Seeded synthetic battles with known strengths, for tests, benchmarks and demos."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from app.ranking.battles import Battles, FloatArray
from app.ranking.style import standardise

STYLE_MEANS = (300.0, 2.0, 6.0, 3.0)  # tokens, headers, list items, bold per answer


def simulate_battles(
    logits: npt.ArrayLike,
    n_battles: int,
    *,
    tie_rate: float = 0.2,
    bothbad_share: float = 0.3,
    style_coef: npt.ArrayLike | None = None,
    seed: int = 0,
) -> Battles:
    """Battles between uniformly drawn pairs of models ``m0, m1, ...``.

    The expected score of side A (tie = 0.5) is ``sigmoid(logit_a - logit_b + coef . s)``,
    where ``s`` are the standardised style differences of the Poisson style counts, so the
    Bradley-Terry fits are consistent for ``logits`` (centred) and ``style_coef``. Ties
    occur with probability ``tie_rate * 2 * min(p, 1 - p)``; ``bothbad_share`` of them are
    "tie (bothbad)". Timestamps are increasing.
    """
    theta = np.asarray(logits, dtype=np.float64)
    m = theta.size
    rng = np.random.default_rng(seed)
    a = rng.integers(0, m, n_battles)
    b = (a + rng.integers(1, m, n_battles)) % m
    style_a = rng.poisson(STYLE_MEANS, (n_battles, 4)).astype(np.float64)
    style_b = rng.poisson(STYLE_MEANS, (n_battles, 4)).astype(np.float64)
    eta = theta[a] - theta[b]
    if style_coef is not None:
        diff, _, _ = standardise((style_a - style_b) / (style_a + style_b + 1.0))
        eta = eta + diff @ np.asarray(style_coef, dtype=np.float64)
    p = 1.0 / (1.0 + np.exp(-eta))
    tie_p = tie_rate * 2.0 * np.minimum(p, 1.0 - p)
    u = rng.random(n_battles)
    outcome = np.where(u < p - tie_p / 2, 0, np.where(u < p + tie_p / 2, 2, 1))
    outcome = np.where((outcome == 2) & (rng.random(n_battles) < bothbad_share), 3, outcome)
    return Battles(tuple(f"m{k}" for k in range(m)), a, b, outcome,
                   tstamp=np.arange(n_battles, dtype=np.float64),
                   style_a=style_a, style_b=style_b)


def centred(logits: npt.ArrayLike) -> FloatArray:
    """Logits in the fits' gauge (sum zero)."""
    x = np.asarray(logits, dtype=np.float64)
    return x - x.mean()
