"""Robustness audit: the one-step influence of a vote matches refitting without it; the
most influential 1% flips a close race but not a clear one; visitors are grouped."""

from __future__ import annotations

import numpy as np

from app.ranking import PAIR_FREQUENCY, fit_bradley_terry, simulate_battles
from app.ranking.robustness import robustness_audit, vote_gap_effects


def test_one_step_effect_matches_refit_for_single_votes() -> None:
    battles = simulate_battles([0.5, 0.2, 0.0, -0.3], 2000, seed=3)
    for rw in (None, PAIR_FREQUENCY):
        fit = fit_bradley_terry(battles, intervals=(), reweighting=rw)
        top = [int(x) for x in fit.order()]
        effects = vote_gap_effects(battles, top, fit.logits, rw)
        for v in (0, 17, 1234):
            keep = np.ones(len(battles), bool)
            keep[v] = False
            refit = fit_bradley_terry(battles.subset(keep), intervals=(), reweighting=None
                                      if rw is None else rw)
            actual = [(refit.logits[top[g]] - refit.logits[top[g + 1]])
                      - (fit.logits[top[g]] - fit.logits[top[g + 1]]) for g in range(3)]
            # exact up to second order (weights of the pair also change when reweighting)
            np.testing.assert_allclose(effects[v], actual, atol=2e-4 if rw is None else 2e-3)


def test_close_race_flips_clear_race_does_not() -> None:
    close = simulate_battles([0.03, 0.0, -0.8, -1.0], 8000, seed=4)
    groups = [f"visitor-{k % 400}" for k in range(len(close))]
    audit = robustness_audit(close, k=4, groups=groups)
    first = audit["votes"]["gaps"][0]
    assert audit["votes"]["dropped"] == 80 and audit["visitors"]["dropped"] == 4
    assert first["refit"] < first["gap"]  # dropping the chosen votes shrinks the gap
    assert abs(first["predicted"] - first["refit"]) < 0.25 * abs(first["gap"] - first["refit"]
                                                                  ) + 2.0
    assert audit["votes"]["flips"] >= 1 and audit["votes"]["max_rank_move"] >= 1

    clear = simulate_battles([1.5, 0.5, -0.5, -1.5], 8000, seed=5)
    safe = robustness_audit(clear, k=4, groups=[f"v{k % 400}" for k in range(len(clear))],
                            reweighting=PAIR_FREQUENCY)
    assert safe["votes"]["flips"] == 0 and safe["visitors"]["flips"] == 0
    assert all(g["refit"] > 0.5 * g["gap"] for g in safe["votes"]["gaps"])
