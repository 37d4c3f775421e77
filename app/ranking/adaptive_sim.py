"""The simulator behind the adaptive-sampling claim: votes until the top is separated.

A world of ``n_models`` with true ratings ``step_elo`` apart; each vote is a tie with
probability ``tie_rate``, else Bradley-Terry decides it. After every ``batch`` votes the
board is refitted (Bradley-Terry, sandwich intervals, unweighted as the board is under
adaptive sampling) and checked: *separated* = the true top ``top`` are the fitted top
``top`` in the right order and each neighbouring pair's ``level`` intervals are disjoint.
``uniform`` draws every pair equally often; ``adaptive`` uses ``pair_probabilities``
(refreshed each batch; the first batch is uniform). Seeded: the same seed gives the same
votes and the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from app.ranking.adaptive import AdaptiveParams, draw_pairs, pair_probabilities
from app.ranking.battles import Battles
from app.ranking.bradley_terry import fit_bradley_terry
from app.ranking.matrices import battle_count_matrix
from app.ranking.results import RatingScale

Strategy = Literal["uniform", "adaptive"]


@dataclass(frozen=True)
class SimResult:
    strategy: str
    seed: int
    votes_needed: int | None  # None: not separated within max_votes
    curve: list[tuple[int, bool]] = field(default_factory=list)  # (votes, separated)


def separated(battles: Battles, top: int, level: float) -> bool:
    fit = fit_bradley_terry(battles, intervals=("sandwich",), level=level)
    order = [int(x) for x in fit.order()][:top]
    if order != list(range(top)):
        return False
    iv = fit.intervals["sandwich"]
    return all(iv.lower[k] > iv.upper[k + 1] for k in range(top - 1))


def run_until_separated(strategy: Strategy, seed: int, *, n_models: int = 20,
                        step_elo: float = 25.0, tie_rate: float = 0.2, top: int = 5,
                        level: float = 0.95, batch: int = 500, max_votes: int = 150_000,
                        params: AdaptiveParams = AdaptiveParams()) -> SimResult:
    if strategy not in ("uniform", "adaptive"):
        raise ValueError("strategy must be 'uniform' or 'adaptive'")
    rng = np.random.default_rng(seed)
    truth = (n_models - 1 - np.arange(n_models)) * step_elo / RatingScale().factor
    models = tuple(f"m{k:02d}" for k in range(n_models))
    live = list(range(n_models))
    a_all = np.empty(0, np.int64)
    b_all = np.empty(0, np.int64)
    o_all = np.empty(0, np.int8)
    uniform = pair_probabilities(np.zeros(n_models), np.ones((n_models, n_models)), live,
                                 AdaptiveParams(floor=1.0))
    curve: list[tuple[int, bool]] = []
    theta = np.zeros(n_models)
    while a_all.size < max_votes:
        if strategy == "adaptive" and a_all.size:
            counts = battle_count_matrix(Battles(models, a_all, b_all, o_all))
            pairs, probs = pair_probabilities(theta, counts, live, params)
        else:
            pairs, probs = uniform
        a, b = draw_pairs(pairs, probs, batch, rng)
        p = 1.0 / (1.0 + np.exp(-(truth[a] - truth[b])))
        u = rng.random(batch)
        tie = rng.random(batch) < tie_rate
        outcome = np.where(tie, 2, np.where(u < p, 0, 1)).astype(np.int8)
        a_all, b_all = np.concatenate([a_all, a]), np.concatenate([b_all, b])
        o_all = np.concatenate([o_all, outcome])
        battles = Battles(models, a_all, b_all, o_all)
        theta = fit_bradley_terry(battles, intervals=()).logits
        ok = separated(battles, top, level)
        curve.append((int(a_all.size), ok))
        if ok:
            return SimResult(strategy, seed, int(a_all.size), curve)
    return SimResult(strategy, seed, None, curve)
