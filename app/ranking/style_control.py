"""Bradley-Terry with style control: ratings net of answer length and markdown.

Per battle, ``logit P(a beats b) = theta_a - theta_b + beta . s`` where ``s`` holds the
standardised normalised differences ``(a - b) / (a + b + 1)`` of each style count (see
``style.py``). ``beta`` says how much a style difference sways voters; ``theta`` is the
rating with that sway removed. Ties are half wins as in plain Bradley-Terry, and the same
tiny ridge ``l2`` applies to ``theta`` and ``beta``.

Style is continuous, so battles cannot be aggregated; the fit runs on all rows with Newton
steps whose Hessian is assembled with ``bincount`` and BLAS (``S^T W S``). The bootstrap
refits Poisson(1)-weighted rows in batches of rounds with the full-data Hessian (chord
iterations: sparse and BLAS products only).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import linalg, sparse
from scipy.special import expit, log_expit, ndtri

from app.ranking._threads import single_threaded_blas
from app.ranking.battles import (
    A_WINS,
    B_WINS,
    STYLE_FEATURES,
    Battles,
    FloatArray,
    IntArray,
)
from app.ranking.bradley_terry import (
    DEFAULT_L2,
    IntervalMethod,
    _laplacian,
    mask_unbattled,
    newton_pairs,
)
from app.ranking.pairs import BothBad, components, incidence, outcome_mask
from app.ranking.results import (
    BradleyTerryResult,
    RatingIntervals,
    RatingScale,
    StyleCoefficients,
    intervals_from_covariance,
    intervals_from_samples,
)
from app.ranking.reweighting import Reweighting, pair_factors
from app.ranking.sampling import PoissonSampler
from app.ranking.style import standardise, style_differences

_BATCH_ROUNDS = 10  # bootstrap rounds per batch; fixed so results do not depend on n_jobs


@dataclass(frozen=True, eq=False)
class _Design:
    """Battles oriented so the lower model index is side "a", sorted by pair.

    Sorting makes every per-pair sum a contiguous ``reduceat`` and every per-row pair term
    a ``repeat``, which is much faster than scatter/gather over a million rows.
    """

    m: int
    y: FloatArray  # outcome for the lower-index model: 1 win, 0 loss, 0.5 tie
    s: FloatArray  # rows x features, from the lower-index model's side
    starts: IntArray  # first row of each pair
    counts: IntArray
    pair_i: IntArray
    pair_j: IntArray
    e_t: sparse.csr_matrix  # models x pairs incidence, +1 at i, -1 at j

    @property
    def k(self) -> int:
        return self.s.shape[1]

    @classmethod
    def build(cls, m: int, a: IntArray, b: IntArray, y: FloatArray, s: FloatArray) -> _Design:
        flip = a > b
        key = np.minimum(a, b) * m + np.maximum(a, b)
        order = np.argsort(key, kind="stable")
        keys, starts, counts = np.unique(key[order], return_index=True, return_counts=True)
        y = np.where(flip, 1.0 - y, y)[order]
        s = np.where(flip[:, None], -s, s)[order]
        i, j = keys // m, keys % m
        return cls(m, y, np.ascontiguousarray(s), starts, counts, i, j,
                   incidence(m, i, j).T.tocsr())

    def pair_sums(self, v: FloatArray) -> FloatArray:
        """Sums over each pair's rows along the last axis of ``v``."""
        if v.shape[-1] == 0:
            return np.zeros((*v.shape[:-1], 0))
        return np.add.reduceat(v, self.starts, axis=-1)

    def eta(self, x: FloatArray, s: np.ndarray | None = None) -> np.ndarray:
        """Linear predictor per row for parameters ``x`` (``(m+k,)`` or rounds x ``m+k``);
        ``s`` is the feature matrix in the working precision (default ``self.s``)."""
        s = self.s if s is None else s
        pair = (x[..., self.pair_i] - x[..., self.pair_j]).astype(s.dtype)
        out = np.repeat(pair, self.counts, axis=-1)
        out += x[..., self.m:].astype(s.dtype) @ s.T
        return out

    def gradient(self, r: np.ndarray, s: np.ndarray | None = None) -> np.ndarray:
        """Score ``X^T r`` for row residuals ``r`` (``(n,)`` or rounds x n)."""
        s = self.s if s is None else s
        per_pair = self.pair_sums(r).astype(np.float64)
        theta = np.asarray(self.e_t @ per_pair.T).T
        return np.concatenate([theta, r @ s], axis=-1)

    def gram(self, w: FloatArray, l2: float) -> FloatArray:
        """``X^T diag(w) X + l2 I`` without forming ``X``."""
        m, k = self.m, self.k
        ws = self.s * w[:, None]
        sums = self.pair_sums(np.concatenate([w[None], ws.T]))  # (1 + k, pairs)
        out = np.zeros((m + k, m + k))
        out[:m, :m] = _laplacian(self.pair_i, self.pair_j, m, sums[0], 0.0)
        cross = np.asarray(self.e_t @ sums[1:].T)
        out[:m, m:] = cross
        out[m:, :m] = cross.T
        out[m:, m:] = self.s.T @ ws
        out[np.diag_indices(m + k)] += l2
        return out


def fit_style_control(
    battles: Battles,
    *,
    features: Sequence[str] | None = None,
    bothbad: BothBad = "tie",
    anchor: str | None = None,
    anchor_rating: float = 1000.0,
    scale: float = 400.0,
    base: float = 10.0,
    initial: float = 1000.0,
    intervals: Sequence[IntervalMethod] = ("sandwich",),
    level: float = 0.95,
    n_bootstrap: int = 100,
    seed: int = 0,
    l2: float = DEFAULT_L2,
    tol: float = 1e-9,
    max_iter: int = 100,
    n_jobs: int | None = None,
    reweighting: Reweighting | None = None,
) -> BradleyTerryResult:
    """Style-controlled Bradley-Terry; ``result.style`` holds the style coefficients.

    ``reweighting`` weights each battle by its pair's inverse frequency (as in
    ``fit_bradley_terry``); the sandwich and the bootstrap use the same weights.

    ``features``: which of the battles' style features to control for (default: all).

    Intervals: ``sandwich`` (robust covariance of all parameters) and/or ``bootstrap``
    (Poisson(1) weights per battle, ``n_bootstrap`` rounds, seeded). Coefficients are in
    logits per standard deviation of the normalised difference.
    """
    have = battles.style_features or STYLE_FEATURES
    features = tuple(have if features is None else features)
    unknown = [f for f in features if f not in have]
    if unknown or not features:
        raise ValueError(f"features must be a non-empty subset of the battles' style "
                         f"features {have}")
    rating_scale = RatingScale(scale, base, initial, anchor, anchor_rating)
    contrast = rating_scale.contrast(battles.models)
    keep = outcome_mask(battles, bothbad)
    cols = [have.index(f) for f in features]
    s, mean, std = standardise(style_differences(battles)[keep][:, cols])
    outcome = battles.outcome[keep]
    y = np.where(outcome == A_WINS, 1.0, np.where(outcome == B_WINS, 0.0, 0.5))
    m = len(battles.models)
    a, b = battles.model_a[keep], battles.model_b[keep]
    design = _Design.build(m, a, b, y, s)
    factors = pair_factors(design.counts, reweighting)
    w = None if factors is None else np.repeat(factors, design.counts)
    with single_threaded_blas():
        start = np.zeros(m + design.k)  # warm start: plain Bradley-Terry on pair counts
        start[:m] = _pair_start(design, l2, factors)
        x, n_iter = _newton(design, w, start, l2, tol, max_iter)
        theta, beta = x[:m], x[m:]
        ratings = rating_scale.to_ratings(battles.models, theta)
        n_battles = np.bincount(a, minlength=m) + np.bincount(b, minlength=m)
        found: dict[str, RatingIntervals] = {}
        coef_iv: dict[str, tuple[FloatArray, FloatArray]] = {}
        for method in intervals:
            if method == "sandwich":
                cov = _sandwich(design, x, l2, w)
                a = contrast * rating_scale.factor
                found[method] = intervals_from_covariance(ratings, a @ cov[:m, :m] @ a.T, level)
                z = float(ndtri(0.5 + level / 2.0))
                se = np.sqrt(np.clip(np.diag(cov)[m:], 0.0, None))
                coef_iv[method] = (beta - z * se, beta + z * se)
            elif method == "bootstrap":
                samples = _bootstrap(design, x, n_bootstrap, seed, l2, n_jobs, w)
                found[method] = intervals_from_samples(
                    rating_scale.to_ratings(battles.models, samples[:, :m]), level)
                alpha = (1.0 - level) / 2.0
                lo, hi = np.quantile(samples[:, m:], [alpha, 1.0 - alpha], axis=0)
                coef_iv[method] = (lo, hi)
            else:
                raise ValueError(f"unknown interval method {method!r}")
    eta = design.eta(x)
    terms = log_expit(eta) - (1.0 - design.y) * eta
    log_lik = float(np.sum(terms if w is None else terms * w))
    return BradleyTerryResult(
        models=battles.models, ratings=ratings, logits=theta, n_battles=n_battles,
        component=components(m, design.pair_i, design.pair_j), rating_scale=rating_scale,
        log_likelihood=log_lik, n_iter=n_iter, l2=l2,
        intervals={k: mask_unbattled(v, n_battles) for k, v in found.items()},
        style=StyleCoefficients(tuple(features), beta, mean, std, coef_iv))


def _pair_start(design: _Design, l2: float, factors: FloatArray | None) -> FloatArray:
    f = 1.0 if factors is None else factors
    wins = design.pair_sums(design.y) * f
    return newton_pairs(design.pair_i, design.pair_j, design.m, wins,
                        design.counts.astype(np.float64) * f, l2, tol=1e-6)[0]


def _objective(design: _Design, w: FloatArray | None, x: FloatArray, l2: float) -> float:
    eta = design.eta(x)
    terms = log_expit(eta) - (1.0 - design.y) * eta
    ll = terms.sum() if w is None else terms @ w
    return float(-ll + 0.5 * l2 * x @ x)


def _newton(design: _Design, w: FloatArray | None, x0: FloatArray, l2: float, tol: float,
            max_iter: int) -> tuple[FloatArray, int]:
    """Penalised (weighted) MLE by Newton with backtracking."""
    x = x0.copy()
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is returned
        p = expit(design.eta(x))
        r = design.y - p
        h = p * (1.0 - p)
        if w is not None:
            r *= w
            h *= w
        step = linalg.solve(design.gram(h, l2), design.gradient(r) - l2 * x, assume_a="pos")
        t = 1.0
        if np.max(np.abs(step)) > 0.1:  # far from the optimum: backtrack on the objective
            obj = _objective(design, w, x, l2)
            for _ in range(60):
                if _objective(design, w, x + t * step, l2) - obj <= 1e-12 * (abs(obj) + 1.0):
                    break
                t *= 0.5
        x = x + t * step
        if np.max(np.abs(t * step)) <= tol:
            break
    return x, n_iter


def _sandwich(design: _Design, x: FloatArray, l2: float, w: FloatArray | None) -> FloatArray:
    """``H^-1 M H^-1`` of the (weighted) score equations: bread ``X^T diag(w p(1-p)) X``,
    meat ``X^T diag(w^2 r^2) X``."""
    p = expit(design.eta(x))
    v = 1.0 if w is None else w
    hess_inv = linalg.inv(design.gram(v * p * (1.0 - p), l2))
    meat = design.gram(v * v * (design.y - p) ** 2, 0.0)
    return hess_inv @ meat @ hess_inv


def _bootstrap(design: _Design, x0: FloatArray, n_rounds: int, seed: int, l2: float,
               n_jobs: int | None, w0: FloatArray | None = None, tol: float = 1e-6,
               max_iter: int = 100) -> FloatArray:
    """``(n_rounds, models + features)`` refits on Poisson(1)-weighted battles (times the
    fixed design weights ``w0`` when reweighting)."""
    p = expit(design.eta(x0))
    hess_inv = linalg.inv(design.gram((1.0 if w0 is None else w0) * p * (1.0 - p), l2))
    w0_32 = None if w0 is None else w0.astype(np.float32)
    sampler = PoissonSampler([1.0])
    s32, y32 = design.s.astype(np.float32), design.y.astype(np.float32)
    sizes = [min(_BATCH_ROUNDS, n_rounds - s) for s in range(0, n_rounds, _BATCH_ROUNDS)]
    seeds = np.random.SeedSequence(seed).spawn(len(sizes))

    def run(k: int) -> FloatArray:
        rng = np.random.default_rng(seeds[k])
        # rounds x rows, in float32 to halve memory traffic; sums are over <= 1e6 terms
        # of size < 1, far below the tolerance in their effect on the logits
        w = sampler.draw_iid(rng, (sizes[k], design.y.size)).astype(np.float32)
        if w0_32 is not None:
            w *= w0_32
        x = np.repeat(x0[None], sizes[k], axis=0)
        change = np.full(sizes[k], np.inf)
        for _ in range(max_iter):
            r = design.eta(x, s=s32)
            expit(r, out=r)
            np.subtract(y32, r, out=r)
            r *= w
            step = (design.gradient(r, s=s32).astype(np.float64) - l2 * x) @ hess_inv
            x += step
            change = np.abs(step).max(axis=1)
            if change.max() <= tol:
                break
        for c in np.flatnonzero(change > tol):
            x[c] = _newton(design, w[c].astype(np.float64), x[c], l2, tol, max_iter)[0]
        return x

    workers = max(1, min(n_jobs or os.cpu_count() or 1, len(sizes)))
    if workers == 1:
        parts = [run(k) for k in range(len(sizes))]
    else:
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(run, range(len(sizes))))
    return np.concatenate(parts) if parts else np.empty((0, x0.size))
