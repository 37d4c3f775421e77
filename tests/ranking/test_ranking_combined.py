"""The combined human + judge fit: weight 0 is the human fit exactly; a heavy judge weight
approaches the judge-only fit; in between, the shared fit lies between the two."""

from __future__ import annotations

import numpy as np
import pytest

from app.ranking import PAIR_FREQUENCY, Battles, fit_bradley_terry, simulate_battles
from app.ranking.combined import fit_combined

HUMAN = [0.6, 0.3, 0.0, -0.2, -0.7]
JUDGE = [-0.2, 0.3, 0.5, 0.0, -0.6]  # the judge disagrees about models 0 and 2


def data() -> tuple[Battles, Battles]:
    human = simulate_battles(HUMAN, 4000, seed=1)
    judge = simulate_battles(JUDGE, 3000, tie_rate=0.1, seed=2)
    return human, Battles(human.models, judge.model_a, judge.model_b, judge.outcome)


def test_weight_zero_is_the_human_board_exactly() -> None:
    human, judge = data()
    alone = fit_bradley_terry(human, intervals=("bootstrap",), n_bootstrap=100,
                              reweighting=PAIR_FREQUENCY)
    zero = fit_combined(human, judge, judge_weight=0.0, n_bootstrap=100,
                        reweighting=PAIR_FREQUENCY)
    np.testing.assert_array_equal(alone.ratings, zero.ratings)
    np.testing.assert_array_equal(alone.intervals["bootstrap"].lower,
                                  zero.intervals["bootstrap"].lower)


def test_judge_weight_moves_the_fit_towards_the_judge() -> None:
    human, judge = data()
    h = fit_bradley_terry(human, intervals=()).logits
    g = fit_bradley_terry(judge, intervals=()).logits
    half = fit_combined(human, judge, judge_weight=1.0, n_bootstrap=50)
    heavy = fit_combined(human, judge, judge_weight=1e4, n_bootstrap=50)
    assert np.abs(heavy.logits - g).max() < 0.01
    lo, hi = np.minimum(h, g), np.maximum(h, g)
    assert np.all((half.logits >= lo - 1e-6) & (half.logits <= hi + 1e-6))
    assert np.abs(half.logits - h).max() > 0.1  # it did move
    iv = half.intervals["bootstrap"]
    assert np.all(iv.lower < half.ratings) and np.all(half.ratings < iv.upper)
    with pytest.raises(ValueError):
        fit_combined(human, judge, judge_weight=-1.0)
