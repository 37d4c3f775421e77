"""Adaptive pair sampling: draw the next pairs where the top of the board is least certain.

For the current fit (logits ``theta``, pair counts), the Fisher information of Bradley-Terry
is the weighted Laplacian ``L = sum_pairs n p(1-p) d d^T`` (``d = e_i - e_j``); its
pseudo-inverse ``C`` approximates the covariance of the ratings in the board's gauge (sum
zero). One more vote on pair (i, j) lowers the variance of every rating ``s`` by
``(C d)_s^2 / (1 / (p(1-p)) + d^T C d)`` (Sherman-Morrison). A pair's score is that
reduction summed over the models near the top, each weighted by how much its interval
still overlaps its neighbours' (full weight until the gap is 1.25 x ``z`` times the sum
of the two standard errors, the board's marginal intervals, then fading). Pairs are
drawn with probability ``(1 - floor) * score / sum(score) + floor / pairs``: every live
pair keeps some chance. Only live models are candidates and the sides are random, so
nothing about the draw says which model is where.

Estimator: the design depends only on earlier votes, so the Bradley-Terry likelihood is
unchanged by it (the design is ignorable) and the plain MLE stays consistent and
efficient when preferences are one-dimensional. Pair-frequency reweighting would undo
exactly the frequencies adaptive sampling creates (every pair counting equally again),
throwing away the precision it bought; so under adaptive sampling the board uses the
unweighted fit (``reweighting=NONE``), and the simulator scores that estimator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from app.ranking.battles import FloatArray


@dataclass(frozen=True)
class AdaptiveParams:
    top: int = 5  # the ranks whose order matters most
    floor: float = 0.05  # share of draws spread uniformly over all live pairs
    level_z: float = 1.96  # intervals the overlap refers to


def pair_probabilities(theta: FloatArray, counts: FloatArray, live: Sequence[int],
                       params: AdaptiveParams = AdaptiveParams()) -> tuple[np.ndarray,
                                                                           FloatArray]:
    """``(pairs (k, 2), probabilities (k,))`` over the live models' pairs ``i < j``.

    ``counts`` is the symmetric ``(m, m)`` matrix of battles per pair so far.
    """
    live_arr = np.asarray(sorted(set(int(x) for x in live)))
    if live_arr.size < 2:
        raise ValueError("need at least two live models")
    iu, ju = np.triu_indices(live_arr.size, 1)
    pairs = np.stack([live_arr[iu], live_arr[ju]], axis=1)
    m = theta.size
    p_all = expit(theta[:, None] - theta[None, :])
    info = counts * p_all * (1 - p_all)
    lap = np.diag(info.sum(axis=1)) - info
    cov = np.linalg.pinv(lap)
    order = [int(x) for x in np.argsort(-theta, kind="stable") if x in set(live_arr.tolist())]
    focus = order[: params.top + 1]
    weight = np.zeros(m)
    sd = np.sqrt(np.clip(np.diag(cov), 1e-12, None))
    for a, b in zip(focus, focus[1:], strict=False):
        # the board's intervals are marginal: they are disjoint when the gap exceeds
        # z * (sd_a + sd_b); full weight until then (with a margin), fading after
        z = abs(theta[a] - theta[b]) / (sd[a] + sd[b])
        overlap = float(np.exp(-0.5 * (max(z - 1.25 * params.level_z, 0.0) / 0.5) ** 2))
        weight[a] += overlap
        weight[b] += overlap
    i, j = pairs[:, 0], pairs[:, 1]
    cd = cov[:, i] - cov[:, j]  # (m, pairs): C d
    dcd = cd[i, np.arange(i.size)] - cd[j, np.arange(i.size)]
    v = p_all[i, j] * (1 - p_all[i, j])
    gain = (weight[:, None] * cd**2).sum(axis=0) / (1.0 / np.maximum(v, 1e-9) + dcd)
    if not np.isfinite(gain).all() or gain.sum() <= 0:
        probs = np.full(i.size, 1.0 / i.size)
    else:
        probs = (1 - params.floor) * gain / gain.sum() + params.floor / i.size
    return pairs, probs / probs.sum()


def draw_pairs(pairs: np.ndarray, probs: FloatArray, n: int,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` battles ``(model_a, model_b)`` from the pair distribution, sides at random."""
    k = rng.choice(pairs.shape[0], size=n, p=probs)
    a, b = pairs[k, 0], pairs[k, 1]
    swap = rng.random(n) < 0.5
    return np.where(swap, b, a), np.where(swap, a, b)
