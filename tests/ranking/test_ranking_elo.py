"""Online Elo: known updates, zero-sum, order dependence, configuration."""

from __future__ import annotations

import numpy as np
import pytest

from app.ranking import Battles, fit_online_elo, simulate_battles


def test_single_update_matches_the_elo_formula() -> None:
    battles = Battles.from_names(["x"], ["y"], ["model_a"], models=("x", "y"))
    elo = fit_online_elo(battles)
    assert elo.ratings == pytest.approx([1002.0, 998.0])  # K=4, equal ratings: 4 * 0.5
    tie = fit_online_elo(Battles.from_names(["x", "x"], ["y", "y"], ["model_a", "tie"]))
    expected = 0.5 - 1 / (1 + 10 ** ((998 - 1002) / 400))
    assert tie.ratings[0] == pytest.approx(1002 + 4 * expected)


def test_parameters_are_configurable() -> None:
    battles = Battles.from_names(["x"], ["y"], ["model_b"])
    elo = fit_online_elo(battles, k=32, initial=1500.0, base=np.e, scale=1.0)
    assert elo.ratings == pytest.approx([1484.0, 1516.0])


def test_updates_are_zero_sum_and_track_strength() -> None:
    battles = simulate_battles([1.0, 0.0, -1.0], 20_000, seed=1)
    elo = fit_online_elo(battles)
    assert elo.ratings.sum() == pytest.approx(3000.0)
    assert elo.ratings[0] > elo.ratings[1] > elo.ratings[2]
    assert list(elo.n_battles) == list(battles.battles_per_model())


def test_order_matters_and_tstamp_defines_it() -> None:
    battles = simulate_battles([0.5, 0.0, -0.5], 500, seed=2)
    forward = fit_online_elo(battles).ratings
    rev = np.arange(len(battles))[::-1]
    reversed_rows = battles.subset(rev)
    # same rows listed backwards, but timestamps still give the original order
    np.testing.assert_allclose(fit_online_elo(reversed_rows).ratings, forward)
    no_time = Battles(reversed_rows.models, reversed_rows.model_a, reversed_rows.model_b,
                      reversed_rows.outcome)
    assert not np.allclose(fit_online_elo(no_time).ratings, forward)
