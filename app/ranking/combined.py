"""One Bradley-Terry fit over human votes and judge verdicts together.

Judge verdicts enter as games (``app.judges.verdicts``: ties count half, a strong verdict
three games) with a configurable weight per game relative to a human vote; human battles
keep their pair-frequency reweighting. Both sources are aggregated per pair, and the
bootstrap resamples each source's cells with its own Poisson draws, so the interval says
how uncertain the shared fit is. A judge weight of 0 (or no judge games) is the human fit
itself, by the same code path, so it reproduces the human-only board exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import linalg
from scipy.special import expit

from app.ranking._threads import single_threaded_blas
from app.ranking.battles import Battles, FloatArray
from app.ranking.bradley_terry import (
    DEFAULT_L2,
    _chord_pairs,
    _laplacian,
    fit_bradley_terry,
    mask_unbattled,
    newton_pairs,
)
from app.ranking.pairs import aggregate_pairs, components
from app.ranking.results import BradleyTerryResult, RatingScale, intervals_from_samples
from app.ranking.reweighting import Reweighting, pair_factors
from app.ranking.sampling import PoissonSampler


def _cells(battles: Battles, keys: np.ndarray, m: int) -> FloatArray:
    """``(len(keys), 3)`` win/loss/tie counts of ``battles`` on the pair keys ``i*m+j``."""
    c = aggregate_pairs(battles)
    out = np.zeros((keys.size, 3))
    out[np.searchsorted(keys, c.i * m + c.j)] = c.cells
    return out


def fit_combined(human: Battles, judge: Battles, *, judge_weight: float,
                 reweighting: Reweighting | None = None, level: float = 0.95,
                 n_bootstrap: int = 200, seed: int = 0, l2: float = DEFAULT_L2,
                 intervals: Sequence[str] = ("bootstrap",)) -> BradleyTerryResult:
    """The shared fit (Elo scale, bootstrap intervals). ``human`` and ``judge`` must list
    the same models in the same order."""
    if not judge_weight >= 0:
        raise ValueError("the judge weight must be >= 0")
    if human.models != judge.models:
        raise ValueError("human and judge battles must share one model list")
    if judge_weight == 0 or len(judge) == 0:
        return fit_bradley_terry(human, intervals=intervals, level=level,
                                 n_bootstrap=n_bootstrap, seed=seed, l2=l2,
                                 reweighting=reweighting)
    m = len(human.models)
    hp, jp = aggregate_pairs(human), aggregate_pairs(judge)
    keys = np.union1d(hp.i * m + hp.j, jp.i * m + jp.j)
    i, j = keys // m, keys % m
    h, g = _cells(human, keys, m), _cells(judge, keys, m)
    f = pair_factors(h.sum(axis=1), reweighting)
    f = np.ones(keys.size) if f is None else f

    def combine(hc: np.ndarray, gc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        wins = f * (hc[..., 0] + 0.5 * hc[..., 2]) + judge_weight * (gc[..., 0] + 0.5 * gc[..., 2])
        return wins, f * hc.sum(axis=-1) + judge_weight * gc.sum(axis=-1)

    scale = RatingScale()
    with single_threaded_blas():
        wins, totals = combine(h, g)
        theta, n_iter = newton_pairs(i, j, m, wins, totals, l2)
        n_battles = np.rint(np.bincount(i, h.sum(1), m) + np.bincount(j, h.sum(1), m)
                            ).astype(np.int64)
        found = {}
        if "bootstrap" in intervals:
            rng_h, rng_g = (np.random.default_rng(s)
                            for s in np.random.SeedSequence(seed).spawn(2))
            hs = PoissonSampler(h.reshape(-1)).draw(rng_h, n_bootstrap).reshape(-1, *h.shape)
            gs = PoissonSampler(g.reshape(-1)).draw(rng_g, n_bootstrap).reshape(-1, *g.shape)
            bw, bt = combine(hs, gs)
            p = expit(theta[i] - theta[j])
            hess_inv = linalg.inv(_laplacian(i, j, m, totals * p * (1 - p), l2))
            logits = _chord_pairs(i, j, m, bw, bt, theta, hess_inv, l2, 1e-7, 200)
            found["bootstrap"] = mask_unbattled(
                intervals_from_samples(scale.to_ratings(human.models, logits), level),
                n_battles)
    return BradleyTerryResult(
        models=human.models, ratings=scale.to_ratings(human.models, theta), logits=theta,
        n_battles=n_battles, component=components(m, i, j), rating_scale=scale,
        log_likelihood=float("nan"), n_iter=n_iter, l2=l2, intervals=found)
