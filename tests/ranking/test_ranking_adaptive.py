"""Adaptive pair sampling: only live pairs, a floor for every pair, random sides, focus
where the top is uncertain; the simulator is reproducible with a seed."""

from __future__ import annotations

import numpy as np
import pytest

from app.ranking.adaptive import AdaptiveParams, draw_pairs, pair_probabilities
from app.ranking.adaptive_sim import run_until_separated

THETA = np.array([1.0, 0.98, 0.5, 0.0, -0.5, -1.0, -1.5])


def test_live_pairs_floor_and_focus() -> None:
    counts = np.full((7, 7), 40.0)
    np.fill_diagonal(counts, 0)
    live = [0, 1, 2, 4, 5, 6]  # model 3 is offline
    pairs, probs = pair_probabilities(THETA, counts, live, AdaptiveParams(top=2, floor=0.1))
    assert 3 not in pairs and len(pairs) == 15
    assert probs.sum() == pytest.approx(1.0)
    assert probs.min() >= 0.1 / 15 - 1e-12  # every live pair keeps some chance
    p = {tuple(x): v for x, v in zip(pairs.tolist(), probs, strict=True)}
    assert p[(0, 1)] > 3 * p[(5, 6)]  # the close race at the top, not the bottom
    with pytest.raises(ValueError):
        pair_probabilities(THETA, counts, [2])


def test_draws_are_live_pairs_with_random_sides() -> None:
    counts = np.ones((7, 7))
    pairs, probs = pair_probabilities(THETA, counts, [0, 1, 2, 5])
    a, b = draw_pairs(pairs, probs, 20_000, np.random.default_rng(1))
    assert set(np.unique(np.r_[a, b])) <= {0, 1, 2, 5}
    stronger_on_a = np.mean(np.where(a < b, 1.0, 0.0))  # lower index = stronger here
    assert abs(stronger_on_a - 0.5) < 0.02


def test_simulator_is_reproducible_with_a_seed() -> None:
    kw = {"n_models": 6, "step_elo": 80.0, "top": 3, "batch": 300, "max_votes": 30_000}
    first = run_until_separated("adaptive", 3, **kw)  # type: ignore[arg-type]
    again = run_until_separated("adaptive", 3, **kw)  # type: ignore[arg-type]
    assert first == again and first.votes_needed is not None
    uniform = run_until_separated("uniform", 3, **kw)  # type: ignore[arg-type]
    assert uniform.curve[0][0] == 300 and uniform.votes_needed is not None
    with pytest.raises(ValueError):
        run_until_separated("greedy", 1)  # type: ignore[arg-type]
