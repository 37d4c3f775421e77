"""How well an automatic ranking (a bench) agrees with the arena's, as VisionArena-Bench
and Arena-Hard report it: rank correlations, confidence agreement and separability; and
the bench's score itself, the win rate against an anchor with a bootstrap interval.

Rankings are given per model; functions compare the models the two have in common.
An ``Interval`` is ``(lower, upper, score)``. Two intervals are disjoint when one's lower
bound is strictly above the other's upper bound (touching intervals overlap, as in
``rank_from_bounds``). Undefined values (too few models, a constant ranking, no confident
pair) are ``None``, never NaN, so that exports stay valid JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.special import expit
from scipy.stats import rankdata

from app.ranking.battles import Battles
from app.ranking.bradley_terry import fit_bradley_terry

Interval = tuple[float, float, float]
Scores = Mapping[str, float] | Sequence[float]


def _aligned(a: Scores, b: Scores) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(a, Mapping) != isinstance(b, Mapping):
        raise TypeError("give both rankings as mappings (model -> score) or both as sequences")
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        common = sorted(set(a) & set(b))
        x = np.array([a[m] for m in common], float)
        y = np.array([b[m] for m in common], float)
    else:
        x, y = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
        if x.size != y.size:
            raise ValueError(f"rankings differ in length ({x.size} and {y.size})")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("scores must be finite")
    return x, y


def spearman(a_scores: Scores, b_scores: Scores) -> float | None:
    """Spearman's rho: Pearson correlation of the average ranks (ties share a rank)."""
    x, y = _aligned(a_scores, b_scores)
    if x.size < 2:
        return None
    rx, ry = rankdata(x) - (x.size + 1) / 2, rankdata(y) - (y.size + 1) / 2
    denom = math.sqrt(float(rx @ rx) * float(ry @ ry))
    return None if denom == 0 else float(rx @ ry) / denom


def kendall_tau(a_scores: Scores, b_scores: Scores) -> float | None:
    """Kendall's tau-b: (concordant - discordant) / sqrt((n0 - t_a)(n0 - t_b)), where
    n0 is the number of pairs and t_a, t_b the pairs tied in each ranking."""
    x, y = _aligned(a_scores, b_scores)
    if x.size < 2:
        return None
    i, j = np.triu_indices(x.size, 1)
    sx, sy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    n0 = i.size
    untied_x, untied_y = n0 - int((sx == 0).sum()), n0 - int((sy == 0).sum())
    if untied_x == 0 or untied_y == 0:
        return None
    return float((sx * sy).sum()) / math.sqrt(untied_x * untied_y)


def _checked(intervals: Mapping[str, Interval], what: str) -> dict[str, tuple[float, float]]:
    out = {}
    for model, value in intervals.items():
        lo, hi = float(value[0]), float(value[1])
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
            raise ValueError(f"{what}: model {model!r} has no valid interval ({lo}, {hi})")
        out[model] = (lo, hi)
    return out


def _order(p: tuple[float, float], q: tuple[float, float]) -> int:
    """+1 when p is confidently above q, -1 when below, 0 when the intervals overlap."""
    return 1 if p[0] > q[1] else -1 if q[0] > p[1] else 0


def confidence_agreement(arena: Mapping[str, Interval],
                         bench: Mapping[str, Interval]) -> float | None:
    """Over model pairs whose arena intervals are disjoint: +1 when the bench's are also
    disjoint in the same order, +0.5 when the bench's overlap, 0 when disjoint the other
    way round; divided by the number of such pairs (None when there are none)."""
    a, b = _checked(arena, "arena"), _checked(bench, "bench")
    total, n = 0.0, 0
    for m1, m2 in combinations(sorted(set(a) & set(b)), 2):
        truth = _order(a[m1], a[m2])
        if truth == 0:
            continue
        n += 1
        found = _order(b[m1], b[m2])
        total += 1.0 if found == truth else 0.5 if found == 0 else 0.0
    return total / n if n else None


def separability(intervals: Mapping[str, Interval]) -> float | None:
    """Share of model pairs whose intervals are disjoint (None for fewer than two models)."""
    iv = _checked(intervals, "intervals")
    pairs = list(combinations(sorted(iv), 2))
    if not pairs:
        return None
    return sum(_order(iv[p], iv[q]) != 0 for p, q in pairs) / len(pairs)


@dataclass(frozen=True)
class Agreement:
    """A bench against the arena, over the models both rank."""

    n_models: int
    spearman: float | None
    kendall_tau: float | None
    confidence_agreement: float | None
    n_confident_pairs: int
    separability: float | None


def agreement(arena: Mapping[str, Interval], bench: Mapping[str, Interval]) -> Agreement:
    """All agreement measures at once; correlations use the scores (third element)."""
    common = sorted(set(arena) & set(bench))
    a = {m: arena[m] for m in common}
    b = {m: bench[m] for m in common}
    ca = _checked(a, "arena")
    confident = sum(_order(ca[p], ca[q]) != 0 for p, q in combinations(common, 2))
    scores_a = {m: float(v[2]) for m, v in a.items()}
    scores_b = {m: float(v[2]) for m, v in b.items()}
    return Agreement(len(common), spearman(scores_a, scores_b), kendall_tau(scores_a, scores_b),
                     confidence_agreement(a, b), confident, separability(b))


def win_rate_vs_anchor(battles: Battles, anchor: str, *, n_bootstrap: int = 100,
                       level: float = 0.95, seed: int = 0,
                       n_jobs: int | None = 1) -> dict[str, Interval]:
    """Arena-Hard's score: Bradley-Terry over the judged games, as the probability of
    beating ``anchor`` (which gets 0.5), with a percentile bootstrap interval.

    Returns ``{model: (lower, upper, win_rate)}`` as fractions in [0, 1], for the models
    that played at least one game.
    """
    fit = fit_bradley_terry(battles, anchor=anchor, intervals=("bootstrap",),
                            n_bootstrap=n_bootstrap, level=level, seed=seed, n_jobs=n_jobs)
    k = fit.models.index(anchor)
    samples = fit.intervals["bootstrap"].samples
    assert samples is not None
    factor = fit.rating_scale.factor
    point = expit((fit.ratings - fit.ratings[k]) / factor)
    draws = expit((samples - samples[:, k:k + 1]) / factor)
    alpha = (1.0 - level) / 2.0
    lower, upper = np.quantile(draws, [alpha, 1.0 - alpha], axis=0)
    return {m: (float(lower[n]), float(upper[n]), float(point[n]))
            for n, m in enumerate(fit.models) if fit.n_battles[n] > 0}
