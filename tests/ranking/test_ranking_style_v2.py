"""Style features version 2: emoji and specificity (named entities) beside FastChat's four,
counted by the engine and controlled for by the style board, configurable per arena."""

from __future__ import annotations

import numpy as np
import pytest

from app.leaderboard.compute import LeaderboardParams, board_payload, fit_board
from app.leaderboard.configured import style_features
from app.ranking import STYLE_FEATURES, STYLE_FEATURES_V1, STYLE_VERSION, Battles, count_style
from app.ranking.style import count_emoji, count_entities, standardise


@pytest.mark.parametrize(("text", "emoji"), [
    ("plain text, no emoji © 2026 ™", 0),
    ("two faces 😀😀", 2),
    ("a family is one: 👨‍👩‍👧", 1),
    ("a thumbs up with a skin tone 👍🏽 and a heart ❤️", 2),
    ("flags 🇩🇪🇫🇷 and a keycap 1️⃣", 3),
    ("the emoji form of a text symbol: ©️", 1),
])
def test_emoji_counted_once_each(text: str, emoji: int) -> None:
    assert count_emoji(text) == emoji


def test_entities_are_the_release_recognisers() -> None:
    """Names from the gazetteer, titles, an address and an ID number; a first name alone
    and capitalised shape words are not entities."""
    text = ("Dr Moreau and Jane Doe met at 221 Baker Street. Her passport number is "
            "X1234567. Will it rain? Three red Circles.")
    assert count_entities(text) == 4
    assert count_entities("There are three circles and a square.") == 0


def test_count_style_version_2_outside_code() -> None:
    text = "# Result 🎉\n- **Jane Doe** drew it ✅\n```\n😀 Dr Moreau in code\n```\n"
    counts = count_style(text, tokens=9)
    assert counts.as_tuple() == (9, 1, 1, 1, 2, 1)
    assert len(counts.as_tuple()) == len(STYLE_FEATURES) and STYLE_VERSION == 2
    assert STYLE_FEATURES[:4] == STYLE_FEATURES_V1 == ("tokens", "headers", "list_items", "bold")


def test_style_board_controls_for_configured_features() -> None:
    """A planted emoji effect is recovered by the six-feature board (its interval covers
    it), and a model that wins only by emoji loses its bonus; configuring the board without
    emoji leaves the bonus in its rating."""
    rng = np.random.default_rng(7)
    n, models = 30_000, ("m0", "m1", "m2")
    a = rng.integers(0, 3, n)
    b = (a + rng.integers(1, 3, n)) % 3
    style = [rng.poisson((200, 1, 4, 2, 1, 1), (n, 6)).astype(float) for _ in range(2)]
    for s, side in zip(style, (a, b), strict=True):
        s[side == 0, 4] += 6  # m0 adds emoji
    diff, _, _ = standardise((style[0] - style[1]) / (style[0] + style[1] + 1))
    planted = 0.6
    p = 1 / (1 + np.exp(-planted * diff[:, 4]))  # equal strengths; only emoji matter
    outcome = np.where(rng.random(n) < p, 0, 1)
    battles = Battles(models, a, b, outcome, style_a=style[0], style_b=style[1],
                      style_features=STYLE_FEATURES)

    params = LeaderboardParams(ties="half")
    fit = fit_board(battles, "style", params)
    assert fit.style is not None and fit.style.features == STYLE_FEATURES
    k = STYLE_FEATURES.index("emoji")
    lo, hi = fit.style.intervals["sandwich"]
    assert lo[k] < planted < hi[k]
    payload = board_payload(battles, fit, "style", "overall", params)
    assert payload["style_version"] == 2 and set(payload["style_intervals"]) == set(
        STYLE_FEATURES)
    rows = {r["model"]: r for r in payload["rows"]}
    assert rows["m0"]["ci_lower"] < rows["m1"]["rating"] < rows["m0"]["ci_upper"]

    without = LeaderboardParams(style_features=("tokens", "headers", "list_items", "bold"))
    plain = board_payload(battles, fit_board(battles, "style", without), "style", "overall",
                          without)
    assert set(plain["style_coefficients"]) == set(STYLE_FEATURES_V1)
    by = {r["model"]: r for r in plain["rows"]}
    assert by["m0"]["ci_lower"] > by["m1"]["ci_upper"]  # the emoji bonus stays


def test_configured_features() -> None:
    assert style_features("") == STYLE_FEATURES
    assert style_features(" emoji, tokens ") == ("tokens", "emoji")  # the engine's order
    with pytest.raises(ValueError, match=r"unknown style features \['sparkle'\]"):
        style_features("tokens,sparkle")
    with pytest.raises(ValueError, match="must have shape"):
        Battles(("x", "y"), [0], [1], [0], style_a=np.zeros((1, 5)), style_b=np.zeros((1, 5)))
    with pytest.raises(ValueError, match="style_features must be distinct names"):
        Battles(("x", "y"), [0], [1], [0], style_a=np.zeros((1, 1)), style_b=np.zeros((1, 1)),
                style_features=("sparkle",))
