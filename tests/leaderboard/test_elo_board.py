"""The online Elo board: the engine's sequential Elo over the counted votes in vote order,
and order-dependent where Bradley-Terry is not."""

from __future__ import annotations

import numpy as np

from app.leaderboard.elo_board import ELO_K, elo_payload
from app.ranking import fit_bradley_terry, fit_online_elo, simulate_battles

LOGITS = [0.6, 0.2, 0.0, -0.3]


def test_elo_board_is_the_sequential_fit_and_depends_on_the_order() -> None:
    battles = simulate_battles(LOGITS, 3000, seed=8)
    payload = elo_payload(battles, "overall", "Overall", 0.95)
    direct = fit_online_elo(battles, k=ELO_K)
    by_model = {r["model"]: r["rating"] for r in payload["rows"]}
    for k, name in enumerate(battles.models):
        assert by_model[name] == round(float(direct.ratings[k]), 2)
    assert [r["rank"] for r in payload["rows"]] == [1, 2, 3, 4]
    assert payload["elo"]["order_dependent"] is True and payload["rows"][0]["ci_lower"] is None
    assert len(payload["winrate"]) == 4 and payload["winrate"][0][0] is None

    reversed_ = battles.subset(np.arange(len(battles))[::-1])
    reversed_ = type(battles)(battles.models, reversed_.model_a, reversed_.model_b,
                              reversed_.outcome)  # no timestamps: row order is the order
    elo_rev = fit_online_elo(reversed_, k=ELO_K).ratings
    assert np.abs(elo_rev - direct.ratings).max() > 1.0  # the order moves Elo ...
    bt = fit_bradley_terry(battles, intervals=()).ratings
    bt_rev = fit_bradley_terry(reversed_, intervals=()).ratings
    np.testing.assert_allclose(bt, bt_rev, atol=1e-9)  # ... and not Bradley-Terry
