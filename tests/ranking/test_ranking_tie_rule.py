"""The board's tie rule (LeaderboardParams.ties): every board fits the games that
app/ranking/ties.py makes of the battles, the same games the tie report scores, so the rule
an operator picks from that report is the one the board uses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.leaderboard.compute import LeaderboardParams, board_payload, fit_board
from app.ranking import Battles, fit_bradley_terry
from app.ranking.battles import BOTHBAD
from app.ranking.ties import TIE_METHODS, USABLE_LINE, fit_ties, tie_games

ELO_PER_LOGIT = 400.0 / math.log(10.0)
MODELS = ("alpha", "beta", "gamma", "delta", "omega")
STRENGTH = {"alpha": 1.2, "beta": 0.6, "gamma": 0.0, "delta": -0.6, "omega": -3.0}


def simulated(n: int = 3000, seed: int = 5) -> Battles:
    """Bradley-Terry votes with 10% plain ties; a pair's "both are bad" rate grows as the
    two are weak (omega's answers are rarely usable); markdown counts for style control."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, len(MODELS), n)
    b = (a + rng.integers(1, len(MODELS), n)) % len(MODELS)
    s = np.array([STRENGTH[m] for m in MODELS])
    p_bad = 1.0 / (1.0 + np.exp(2.0 + s[a] + s[b]))
    u = rng.random(n)
    win_a = rng.random(n) < 1.0 / (1.0 + np.exp(s[b] - s[a]))
    outcome = np.where(u < p_bad, BOTHBAD, np.where(u < p_bad + 0.1, 2, np.where(win_a, 0, 1)))
    style = rng.integers(0, 40, (n, 4)).astype(float), rng.integers(0, 40, (n, 4)).astype(float)
    return Battles(MODELS, a, b, outcome, tstamp=np.arange(n, dtype=float),
                   style_a=style[0], style_b=style[1])


def test_half_is_the_fastchat_fit() -> None:
    data = simulated()
    params = LeaderboardParams(n_bootstrap=20)
    assert tie_games(data, "half") is data
    board = fit_board(data, "default", params)
    plain = fit_bradley_terry(data, intervals=("bootstrap",), n_bootstrap=20,
                              reweighting=params.reweighting)
    assert np.array_equal(board.ratings, plain.ratings)
    payload = board_payload(data, board, "default", "overall", params)
    assert payload["ties"] == {"method": "half",
                               "label": "ties count as half a win for each side"}
    assert [r["rank"] for r in payload["rows"]] == [int(board.intervals["bootstrap"].rank[
        MODELS.index(r["model"])]) for r in payload["rows"]]


@pytest.mark.parametrize("method", ["ignore", "grounded"])
def test_board_ratings_are_the_tie_methods_fit(method: str) -> None:
    """The board's point ratings differ as the tie report's logits do (same games, same
    weights, same penalty), on the Elo scale."""
    data = simulated()
    params = LeaderboardParams(n_bootstrap=20, ties=method)  # type: ignore[arg-type]
    board = fit_board(data, "default", params)
    theta = fit_ties(data, method, reweighting=params.reweighting)  # type: ignore[arg-type]
    m = len(MODELS)
    assert len(board.models) == (m + 1 if method == "grounded" else m)
    np.testing.assert_allclose(board.ratings - board.ratings[0],
                               ELO_PER_LOGIT * (theta - theta[0]), atol=1e-6)


def test_ignore_counts_decisive_votes_only() -> None:
    data = simulated()
    decisive = int(np.sum(data.outcome < 2))
    params = LeaderboardParams(n_bootstrap=20, ties="ignore")
    payload = board_payload(data, fit_board(data, "default", params), "default", "overall",
                            params)
    assert sum(r["votes"] for r in payload["rows"]) == 2 * decisive
    assert payload["ties"]["method"] == "ignore" and "line" not in payload["ties"]


def test_grounded_board_has_the_line_beside_the_models() -> None:
    data = simulated()
    params = LeaderboardParams(n_bootstrap=50, ties="grounded")
    result = fit_board(data, "default", params)
    payload = board_payload(data, result, "default", "overall", params)
    rows = {r["model"]: r for r in payload["rows"]}
    # the line is not a model: not a row, not in the win-rate matrix, not ranked
    assert set(rows) == set(MODELS) and payload["models"] == [r["model"] for r in
                                                              payload["rows"]]
    assert len(payload["winrate"]) == len(MODELS)
    assert sorted(r["rank"] for r in rows.values())[-1] <= len(MODELS)
    # the true order; under "half" omega's many "both are bad" (ties with everyone) lift it
    # above delta, and the line's games put it back
    assert [r["model"] for r in payload["rows"]] == sorted(MODELS, key=lambda x: -STRENGTH[x])
    half = LeaderboardParams(n_bootstrap=50)
    assert [r["model"] for r in board_payload(data, fit_board(data, "default", half), "default",
                                              "overall", half)["rows"]][3:] == ["omega", "delta"]
    line = payload["ties"]["line"]
    assert line["ci_lower"] < line["rating"] < line["ci_upper"]
    # omega's answers are rarely usable: it sits below the line, the strongest above it
    assert rows["omega"]["ci_upper"] < line["rating"] < rows["alpha"]["ci_lower"]
    # style control fits the same games; a line game has no style difference
    games = tie_games(data, "grounded")
    ties = int(np.sum((data.outcome == BOTHBAD) | (data.outcome == 2)))
    assert len(games) == 2 * len(data) + ties and games.models[-1] == USABLE_LINE
    assert games.style_a is not None and games.style_b is not None
    assert np.array_equal(games.style_a[len(data):], games.style_b[len(data):])
    style = fit_board(data, "style", params)
    assert len(style.models) == len(MODELS) + 1 and style.style is not None
    assert "line" in board_payload(data, style, "style", "overall", params)["ties"]


def test_refused() -> None:
    data = simulated(50)
    with pytest.raises(ValueError, match="tie method must be one of"):
        tie_games(data, "coin")  # type: ignore[arg-type]
    named = Battles((*MODELS[:-1], USABLE_LINE), data.model_a, data.model_b, data.outcome)
    with pytest.raises(ValueError, match="already a model"):
        tie_games(named, "grounded")
    assert set(TIE_METHODS) == {"half", "ignore", "grounded"}
