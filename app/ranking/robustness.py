"""Robustness audit: could dropping a few votes (or voters) reorder the top of the board?

For the Bradley-Terry fit ``theta`` with Hessian ``H``, dropping vote ``v`` moves the
logits by about ``-H^-1 g_v`` (one Newton step from the full fit), where
``g_v = w_v (y_v - p_v)(e_a - e_b)`` is the vote's (weighted) score. That gives every
vote's effect on each gap between neighbouring top-k models at the cost of one
``(models x models)`` inverse. For each gap, the ``share`` of votes (or of visitors, their
votes' effects summed) that shrink it most are dropped: the sum of their effects predicts
the new gap, and the fit is then actually redone without them (pair weights recomputed)
to check, and to see how far the top-k ranks move. Published attacks on public arenas
move rankings with a few hundred votes; this says how many it would take here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import linalg
from scipy.special import expit

from app.ranking.battles import A_WINS, B_WINS, Battles
from app.ranking.bradley_terry import DEFAULT_L2, _laplacian, fit_bradley_terry
from app.ranking.pairs import aggregate_pairs
from app.ranking.results import RatingScale
from app.ranking.reweighting import Reweighting, pair_factors


def vote_gap_effects(battles: Battles, top: Sequence[int], theta: np.ndarray,
                     reweighting: Reweighting | None, l2: float = DEFAULT_L2) -> np.ndarray:
    """``(votes, len(top) - 1)``: one-step change of each neighbouring gap
    ``theta[top[r]] - theta[top[r+1]]`` when the vote is dropped."""
    m = len(battles.models)
    a, b, o = battles.model_a, battles.model_b, battles.outcome
    counts = aggregate_pairs(battles)
    f = pair_factors(counts.totals, reweighting)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    if f is None:
        w = np.ones(len(battles))
        pair_w = counts.totals
    else:
        w = f[np.searchsorted(counts.i * m + counts.j, lo * m + hi)]
        pair_w = counts.totals * f
    p_pair = expit(theta[counts.i] - theta[counts.j])
    hess_inv = linalg.inv(_laplacian(counts.i, counts.j, m, pair_w * p_pair * (1 - p_pair),
                                     l2))
    y = np.where(o == A_WINS, 1.0, np.where(o == B_WINS, 0.0, 0.5))
    r = w * (y - expit(theta[a] - theta[b]))
    top = np.asarray(top)
    # d(gap_r) = -r * [(Hinv[s,a] - Hinv[s,b]) - (Hinv[t,a] - Hinv[t,b])], s, t = top[r], top[r+1]
    rows = hess_inv[top[:-1]] - hess_inv[top[1:]]  # (gaps, models)
    return -(r[:, None] * (rows[:, a] - rows[:, b]).T)


def robustness_audit(battles: Battles, *, k: int = 10, share: float = 0.01,
                     groups: Sequence[str] | None = None,
                     reweighting: Reweighting | None = None) -> dict[str, Any]:
    """The audit for votes, and for visitors when ``groups`` (one id per vote) is given."""
    if not 0.0 < share < 1.0:
        raise ValueError("share must be between 0 and 1")
    fit = fit_bradley_terry(battles, intervals=(), reweighting=reweighting)
    order = [int(x) for x in fit.order() if fit.n_battles[x] > 0][:k]
    out: dict[str, Any] = {"k": len(order), "share": share,
                           "top": [battles.models[x] for x in order]}
    if len(order) < 2:
        return out
    effects = vote_gap_effects(battles, order, fit.logits, reweighting)
    factor = RatingScale().factor
    levels: list[tuple[str, np.ndarray | None]] = [("votes", None)]
    if groups is not None:
        if len(groups) != len(battles):
            raise ValueError("groups must have one entry per vote")
        levels.append(("visitors", np.unique(np.asarray(groups), return_inverse=True)[1]))
    for name, group in levels:
        if group is None:
            unit_effects, members = effects, None
        else:
            unit_effects = np.zeros((int(group.max()) + 1, effects.shape[1]))
            np.add.at(unit_effects, group, effects)
            members = group
        n_drop = max(1, int(round(share * unit_effects.shape[0])))
        gaps, worst_move = [], 0
        for g in range(len(order) - 1):
            chosen = np.argsort(unit_effects[:, g], kind="stable")[:n_drop]  # most negative
            drop = np.isin(members, chosen) if members is not None else np.isin(
                np.arange(len(battles)), chosen)
            gap = fit.logits[order[g]] - fit.logits[order[g + 1]]
            predicted = gap + unit_effects[chosen, g].sum()
            refit = fit_bradley_terry(battles.subset(~drop), intervals=(),
                                      reweighting=reweighting)
            actual = refit.logits[order[g]] - refit.logits[order[g + 1]]
            new_order = [int(x) for x in refit.order()]
            moves = max(abs(new_order.index(x) - pos) for pos, x in enumerate(order))
            worst_move = max(worst_move, moves)
            gaps.append({"upper": battles.models[order[g]], "lower": battles.models[order[g + 1]],
                         "gap": round(float(gap * factor), 2),
                         "predicted": round(float(predicted * factor), 2),
                         "refit": round(float(actual * factor), 2),
                         "flipped": bool(actual < 0), "dropped_votes": int(drop.sum()),
                         "max_rank_move": int(moves)})
        out[name] = {"dropped": n_drop, "of": int(unit_effects.shape[0]), "gaps": gaps,
                     "flips": sum(g["flipped"] for g in gaps), "max_rank_move": worst_move}
    return out
