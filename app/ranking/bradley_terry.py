"""Bradley-Terry by maximum likelihood on aggregated pair counts, with CIs.

Model: ``P(i beats j) = sigmoid(theta_i - theta_j)``. A tie counts as half a win each way
(a fractional outcome 0.5 with weight 1), so ties pull the two logits together. The
objective is the negative log-likelihood plus ``l2 / 2 * ||theta||^2``: the tiny ridge
makes the Hessian positive definite, so models without battles get ``theta = 0`` and each
connected component of the comparison graph is centred (its logits sum to zero, because the
likelihood gradient sums to zero within a component). Its pull on real estimates is of
order ``l2 / battles`` and is negligible at the default.

Solver: Newton's method with backtracking on the ``(models x models)`` Hessian. Bootstrap
rounds are refitted together as a batch, warm-started at the full-data fit and iterated
with the full-data Hessian (a chord method: matrix products only, no per-round
factorisation), in a few threads.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np
from scipy import linalg
from scipy.special import expit, log_expit

from app.ranking._threads import single_threaded_blas
from app.ranking.battles import Battles, FloatArray, IntArray
from app.ranking.pairs import BothBad, PairCounts, aggregate_pairs, components, incidence
from app.ranking.results import (
    BradleyTerryResult,
    RatingIntervals,
    RatingScale,
    intervals_from_covariance,
    intervals_from_samples,
)
from app.ranking.reweighting import Reweighting, pair_factors
from app.ranking.sampling import PoissonSampler

IntervalMethod = Literal["sandwich", "bootstrap"]
Resample = Literal["poisson", "multinomial"]
DEFAULT_L2 = 1e-4
_CHUNK_ROUNDS = 100  # bootstrap rounds per batch; fixed so results do not depend on n_jobs


def fit_bradley_terry(
    battles: Battles,
    *,
    bothbad: BothBad = "tie",
    anchor: str | None = None,
    anchor_rating: float = 1000.0,
    scale: float = 400.0,
    base: float = 10.0,
    initial: float = 1000.0,
    intervals: Sequence[IntervalMethod] = ("bootstrap", "sandwich"),
    level: float = 0.95,
    n_bootstrap: int = 1000,
    resample: Resample = "poisson",
    seed: int = 0,
    l2: float = DEFAULT_L2,
    tol: float = 1e-9,
    max_iter: int = 100,
    n_jobs: int | None = None,
    reweighting: Reweighting | None = None,
) -> BradleyTerryResult:
    """Fit Bradley-Terry ratings (Elo scale) and the requested confidence intervals.

    ``reweighting`` (``app.ranking.reweighting``) weights each battle by its pair's
    inverse frequency; ``None`` or ``NONE`` is the unweighted (FastChat-compatible) fit.
    Both interval methods use the same weights.

    ``bootstrap`` resamples battles with Poisson(1) (or multinomial) weights, done exactly
    on the aggregated counts: a cell of ``c`` identical battles gets weight Poisson(c)
    (multinomial: the cell vector is Multinomial(n, cells / n)). ``sandwich`` is the robust
    covariance ``H^-1 (sum of score outer products) H^-1``. Intervals are percentile
    (bootstrap) or normal (sandwich) at ``level``. Models without battles keep logit 0,
    get NaN bounds and rank 0 (not ranked).
    """
    rating_scale = RatingScale(scale, base, initial, anchor, anchor_rating)
    rating_scale.contrast(battles.models)  # validates the anchor
    with single_threaded_blas():
        return _fit(battles, bothbad, rating_scale, intervals, level, n_bootstrap, resample,
                    seed, l2, tol, max_iter, n_jobs, reweighting)


def _fit(battles: Battles, bothbad: BothBad, rating_scale: RatingScale,
         intervals: Sequence[IntervalMethod], level: float, n_bootstrap: int,
         resample: Resample, seed: int, l2: float, tol: float, max_iter: int,
         n_jobs: int | None, reweighting: Reweighting | None) -> BradleyTerryResult:
    counts = aggregate_pairs(battles, bothbad=bothbad)
    m = len(battles.models)
    weights = pair_factors(counts.totals, reweighting)
    f = 1.0 if weights is None else weights
    wins = (counts.wins_i + 0.5 * counts.ties) * f
    theta, n_iter = newton_pairs(counts.i, counts.j, m, wins, counts.totals * f, l2, tol,
                                 max_iter)
    n_battles = np.bincount(counts.i, counts.totals, m) + np.bincount(counts.j, counts.totals, m)
    n_battles = np.rint(n_battles).astype(np.int64)
    ratings = rating_scale.to_ratings(battles.models, theta)
    found: dict[str, RatingIntervals] = {}
    for method in intervals:
        if method == "sandwich":
            cov = sandwich_covariance(counts, theta, l2, weights=weights)
            a = rating_scale.contrast(battles.models) * rating_scale.factor
            found[method] = intervals_from_covariance(ratings, a @ cov @ a.T, level)
        elif method == "bootstrap":
            logits = bootstrap_logits(counts, theta, n_bootstrap, resample=resample, seed=seed,
                                      l2=l2, n_jobs=n_jobs, weights=weights)
            found[method] = intervals_from_samples(
                rating_scale.to_ratings(battles.models, logits), level)
        else:
            raise ValueError(f"unknown interval method {method!r}")
    found = {k: mask_unbattled(v, n_battles) for k, v in found.items()}
    return BradleyTerryResult(
        models=battles.models, ratings=ratings, logits=theta, n_battles=n_battles,
        component=components(m, counts.i, counts.j), rating_scale=rating_scale,
        log_likelihood=pair_log_likelihood(counts, theta, weights), n_iter=n_iter, l2=l2,
        intervals=found)


def mask_unbattled(iv: RatingIntervals, n_battles: IntArray) -> RatingIntervals:
    """NaN bounds and rank 0 for models without battles; ranks among the others."""
    none = n_battles == 0
    if not none.any():
        return iv
    lower, upper = np.where(none, np.nan, iv.lower), np.where(none, np.nan, iv.upper)
    rank = np.zeros(lower.size, np.int64)
    ok = ~none
    rank[ok] = 1 + (lower[None, ok] > upper[ok, None]).sum(axis=1)
    se = None if iv.se is None else np.where(none, np.nan, iv.se)
    return RatingIntervals(iv.method, iv.level, lower, upper, rank, se=se, samples=iv.samples)


def pair_log_likelihood(counts: PairCounts, theta: FloatArray,
                        weights: FloatArray | None = None) -> float:
    """(Weighted) log-likelihood; ``weights`` per pair as from ``pair_factors``."""
    eta = theta[counts.i] - theta[counts.j]
    wins = counts.wins_i + 0.5 * counts.ties
    ll = wins * log_expit(eta) + (counts.totals - wins) * log_expit(-eta)
    return float(np.sum(ll if weights is None else ll * weights))


def sandwich_covariance(counts: PairCounts, theta: FloatArray, l2: float, *,
                        weights: FloatArray | None = None) -> FloatArray:
    """Robust covariance of the logits (sum-zero gauge per component).

    With per-pair ``weights`` w: bread ``sum w p(1-p)``, meat ``sum w^2 score^2`` (the
    estimating equations are the weighted scores).
    """
    m = theta.size
    w = 1.0 if weights is None else weights
    p = expit(theta[counts.i] - theta[counts.j])
    hess = _laplacian(counts.i, counts.j, m, w * counts.totals * p * (1 - p), l2)
    meat_w = counts.wins_i * (1 - p) ** 2 + counts.wins_j * p**2 + counts.ties * (0.5 - p) ** 2
    meat = _laplacian(counts.i, counts.j, m, w * w * meat_w, 0.0)
    hess_inv = linalg.inv(hess)
    return hess_inv @ meat @ hess_inv


def bootstrap_logits(
    counts: PairCounts,
    theta: FloatArray,
    n_rounds: int,
    *,
    resample: Resample = "poisson",
    seed: int = 0,
    l2: float = DEFAULT_L2,
    tol: float = 1e-7,
    max_iter: int = 200,
    n_jobs: int | None = None,
    weights: FloatArray | None = None,
) -> FloatArray:
    """``(n_rounds, models)`` logits refitted on resampled counts, warm-started at ``theta``.

    Battles are resampled as they are; per-pair ``weights`` (fixed by the design) then
    multiply each resampled cell, so the bootstrap refits the same weighted estimator.
    Rounds run in fixed batches, each with its own child of ``SeedSequence(seed)``, so the
    result depends only on ``seed`` (not on ``n_jobs``, the number of threads).
    """
    if resample not in ("poisson", "multinomial"):
        raise ValueError("resample must be 'poisson' or 'multinomial'")
    cells = counts.cells
    total = int(round(cells.sum()))
    sizes = [min(_CHUNK_ROUNDS, n_rounds - s) for s in range(0, n_rounds, _CHUNK_ROUNDS)]
    seeds = np.random.SeedSequence(seed).spawn(len(sizes))
    m = theta.size
    f = np.ones(counts.i.size) if weights is None else np.asarray(weights, np.float64)
    p = expit(theta[counts.i] - theta[counts.j])
    hess_inv = linalg.inv(_laplacian(counts.i, counts.j, m, f * counts.totals * p * (1 - p),
                                     l2))

    sampler = PoissonSampler(cells.reshape(-1)) if resample == "poisson" else None

    def run(k: int) -> FloatArray:
        rng = np.random.default_rng(seeds[k])
        r = sizes[k]
        if sampler is not None:
            draw = sampler.draw(rng, r).reshape(r, *cells.shape)
        else:
            draw = rng.multinomial(total, cells.reshape(-1) / max(total, 1), size=r)
            draw = draw.reshape(r, *cells.shape).astype(np.float64)
        wins = draw[..., 0] + 0.5 * draw[..., 2]
        totals = draw.sum(axis=2)
        if weights is not None:
            wins *= f
            totals *= f
        return _chord_pairs(counts.i, counts.j, m, wins, totals, theta, hess_inv, l2, tol,
                            max_iter)

    workers = max(1, min(n_jobs or os.cpu_count() or 1, len(sizes)))
    if workers == 1:
        parts = [run(k) for k in range(len(sizes))]
    else:
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(run, range(len(sizes))))
    return np.concatenate(parts) if parts else np.empty((0, m))


def _laplacian(i: IntArray, j: IntArray, m: int, v: FloatArray, l2: float) -> FloatArray:
    """Weighted graph Laplacian ``(m, m)`` of pair weights ``v``, plus ``l2 * I``."""
    h = np.zeros((m, m))
    h[i, j] = -v
    h[j, i] = -v
    h[np.diag_indices(m)] = np.bincount(i, v, m) + np.bincount(j, v, m) + l2
    return h


def _objective(i: IntArray, j: IntArray, wins: FloatArray, totals: FloatArray,
               theta: FloatArray, l2: float) -> float:
    eta = theta[i] - theta[j]
    # w log s(eta) + (n - w) log s(-eta) == n log s(eta) - (n - w) eta
    return float(-(totals * log_expit(eta) - (totals - wins) * eta).sum()
                 + 0.5 * l2 * theta @ theta)


def newton_pairs(i: IntArray, j: IntArray, m: int, wins: FloatArray, totals: FloatArray,
                 l2: float, tol: float = 1e-9, max_iter: int = 100,
                 theta0: FloatArray | None = None) -> tuple[FloatArray, int]:
    """Penalised MLE of one pair-count problem by Newton with backtracking."""
    theta = np.zeros(m) if theta0 is None else theta0.copy()
    obj = _objective(i, j, wins, totals, theta, l2)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is returned
        p = expit(theta[i] - theta[j])
        resid = wins - totals * p
        grad = np.bincount(i, resid, m) - np.bincount(j, resid, m) - l2 * theta
        hess = _laplacian(i, j, m, totals * p * (1 - p), l2)
        step = linalg.solve(hess, grad, assume_a="pos")
        t = 1.0
        for _ in range(60):
            new = theta + t * step
            new_obj = _objective(i, j, wins, totals, new, l2)
            if new_obj - obj <= 1e-12 * (abs(obj) + 1.0):
                break
            t *= 0.5
        theta, obj = new, new_obj
        if np.max(np.abs(t * step), initial=0.0) <= tol:
            break
    return theta, n_iter


def _chord_pairs(i: IntArray, j: IntArray, m: int, wins: FloatArray, totals: FloatArray,
                 theta0: FloatArray, hess_inv: FloatArray, l2: float, tol: float,
                 max_iter: int) -> FloatArray:
    """Batched refits near ``theta0``: iterate ``theta += H0^-1 grad(theta)``.

    ``H0`` is the full-data Hessian; resampled data have the same expected Hessian, so
    this converges linearly at a fast rate without a per-round factorisation. Rounds that
    do not converge in ``max_iter`` are finished by exact Newton. Arrays are laid out
    pairs x rounds so every gather and sparse product works on contiguous rows.
    """
    e = incidence(m, i, j)
    e_t = e.T.tocsr()
    wins_t, totals_t = np.ascontiguousarray(wins.T), np.ascontiguousarray(totals.T)
    theta = np.repeat(theta0[:, None], wins.shape[0], axis=1)
    change = np.full(wins.shape[0], np.inf)
    for _ in range(max_iter):
        resid = expit(e @ theta)
        resid *= totals_t
        np.subtract(wins_t, resid, out=resid)
        grad = e_t @ resid
        grad -= l2 * theta
        step = hess_inv @ grad
        theta += step
        change = np.abs(step).max(axis=0)
        if change.max() <= tol:
            break
    theta = np.ascontiguousarray(theta.T)
    for r in np.flatnonzero(change > tol):
        theta[r] = newton_pairs(i, j, m, wins[r], totals[r], l2, tol, theta0=theta[r])[0]
    return theta
