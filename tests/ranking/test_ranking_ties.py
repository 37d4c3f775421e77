"""Tie handling: half wins (the boards), ties ignored, and the grounded line; the
held-out (time-split) report."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import log_expit

from app.ranking import BOTHBAD, TIE, Battles, fit_bradley_terry, simulate_battles
from app.ranking.ties import TIE_METHODS, fit_ties, held_out_report

TRUTH = [0.8, 0.3, 0.0, -0.4, -0.7]


def test_half_and_ignore_are_the_usual_fits() -> None:
    battles = simulate_battles(TRUTH, 5000, tie_rate=0.3, seed=1)
    bt = fit_bradley_terry(battles, intervals=())
    np.testing.assert_allclose(fit_ties(battles, "half"), bt.logits, atol=1e-7)
    decisive = battles.subset((battles.outcome != TIE) & (battles.outcome != BOTHBAD))
    np.testing.assert_allclose(fit_ties(battles, "ignore"),
                               fit_bradley_terry(decisive, intervals=()).logits, atol=1e-7)
    with pytest.raises(ValueError):
        fit_ties(battles, "davidson")  # type: ignore[arg-type]


def test_grounded_line_games_by_hand() -> None:
    """x beats y 3 times, y beats x once, once both are bad, once they tie: x-y games 4
    of 6 for x (a tie of either kind is half a win each way); against the line each
    winner's answer wins (x 3, y 1), each side of the tie wins and each side of the both-bad
    loses: x 4 of 5, y 2 of 3."""
    battles = Battles.from_names(["x"] * 6, ["y"] * 6,
                                 ["model_a"] * 3 + ["model_b", "tie (bothbad)", "tie"])
    theta = fit_ties(battles, "grounded")
    games = [(0, 1, 4.0, 6.0), (0, 2, 4.0, 5.0), (1, 2, 2.0, 3.0)]  # 2 = the line

    def nll(t: np.ndarray) -> float:
        out = 0.5 * 1e-4 * t @ t
        for i, j, w, n in games:
            out -= w * log_expit(t[i] - t[j]) + (n - w) * log_expit(t[j] - t[i])
        return float(out)

    ref = minimize(nll, np.zeros(3), method="BFGS", options={"gtol": 1e-10}).x
    np.testing.assert_allclose(theta, ref, atol=1e-5)
    assert theta[0] > theta[1] and abs(theta[2]) < 3  # the line is estimated, not a bound


def test_held_out_report_scores_later_votes() -> None:
    battles = simulate_battles(TRUTH, 6000, tie_rate=0.3, bothbad_share=0.5, seed=2)
    report = held_out_report(battles, train_share=0.75)
    assert report["train_votes"] == 4500 and report["test_votes"] == 1500
    assert 900 < report["test_decisive_scored"] < 1500
    for method in TIE_METHODS:
        entry = report["methods"][method]
        assert 0.5 < entry["log_loss"] < np.log(2)  # better than a coin
        assert 0.55 < entry["accuracy"] < 0.8
    assert "line_logit" in report["methods"]["grounded"]
    # a time split: a model first seen after the cut is not scored
    late = Battles(battles.models + ("new",), np.r_[battles.model_a, [5] * 10],
                   np.r_[battles.model_b, [0] * 10], np.r_[battles.outcome, [0] * 10],
                   tstamp=np.r_[battles.tstamp, np.arange(10) + 1e9])
    r2 = held_out_report(late, train_share=0.75)
    assert r2["test_decisive_scored"] <= r2["test_votes"] - 10
    with pytest.raises(ValueError):
        held_out_report(battles, train_share=1.0)
