"""Style control: counting markdown, recovering a planted style effect, cross-check."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from app.ranking import (
    STYLE_FEATURES,
    STYLE_FEATURES_V1,
    Battles,
    count_style,
    fit_bradley_terry,
    fit_style_control,
    simulate_battles,
)
from app.ranking.simulate import centred
from app.ranking.style import standardise, style_differences

TRUTH = np.array([0.6, 0.2, 0.0, -0.3, -0.5])
COEF = np.array([0.5, 0.0, 0.25, -0.15])


def test_count_style_counts_markdown_outside_code() -> None:
    text = (
        "# Title\nSome **bold** and __strong__ words.\n## Part\n- one\n* two\n+ three\n"
        "1. first\n2) second\n```python\n# comment\n- not an item **nor bold**\n```\n"
        "#nospace is not a header\n-not an item\n"
    )
    counts = count_style(text, tokens=42)
    assert (counts.tokens, counts.headers, counts.list_items, counts.bold) == (42, 2, 5, 2)
    assert count_style("plain words here").tokens == 3
    assert count_style("").as_tuple() == (0,) * len(STYLE_FEATURES)


def test_recovers_planted_style_effect_and_strengths() -> None:
    battles = simulate_battles(TRUTH, 80_000, style_coef=COEF, seed=1)
    fit = fit_style_control(battles, intervals=("sandwich",))
    # the simulator's four columns are version 1's features
    assert fit.style is not None and fit.style.features == STYLE_FEATURES_V1
    lo, hi = fit.style.intervals["sandwich"]
    se = (hi - lo) / (2 * 1.96)
    assert np.all(np.abs(fit.style.coef - COEF) < 4 * se)
    se_theta = fit.intervals["sandwich"].se / fit.rating_scale.factor
    assert np.all(np.abs(fit.logits - centred(TRUTH)) < 4 * se_theta)
    # plain BT absorbs nothing here (style is independent of the model), but the style fit
    # must explain the data better
    plain = fit_bradley_terry(battles, intervals=())
    assert fit.log_likelihood > plain.log_likelihood + 100


def test_style_biased_model_loses_its_bonus() -> None:
    """A model that wins only through longer answers is re-rated to its true strength."""
    battles = simulate_battles(np.zeros(4), 40_000, style_coef=[0.8, 0, 0, 0], seed=2)
    style_a = np.array(battles.style_a)
    style_b = np.array(battles.style_b)
    style_a[battles.model_a == 0, 0] *= 3  # model m0 writes three times as much
    style_b[battles.model_b == 0, 0] *= 3
    diff, _, _ = standardise((style_a - style_b) / (style_a + style_b + 1))
    rng = np.random.default_rng(3)
    p = expit(diff[:, 0] * 0.8)
    outcome = np.where(rng.random(len(battles)) < p, 0, 1)
    biased = Battles(battles.models, battles.model_a, battles.model_b, outcome,
                     style_a=style_a, style_b=style_b)
    plain = fit_bradley_terry(biased, intervals=())
    controlled = fit_style_control(biased, intervals=("sandwich",))
    assert plain.logits[0] > 0.3
    assert abs(controlled.logits[0]) < 4 * controlled.intervals["sandwich"].se[0] / 173.7


def test_matches_independent_fit_on_raw_rows() -> None:
    battles = simulate_battles(TRUTH, 3000, style_coef=COEF, tie_rate=0.3, seed=4)
    fit = fit_style_control(battles, intervals=())
    s, _, _ = standardise(style_differences(battles))
    a, b, o = battles.model_a, battles.model_b, battles.outcome
    y = np.select([o == 0, o == 1], [1.0, 0.0], 0.5)
    m = TRUTH.size

    def f(x: np.ndarray) -> tuple[float, np.ndarray]:
        eta = x[a] - x[b] + s @ x[m:]
        ll = y * log_expit(eta) + (1 - y) * log_expit(-eta)
        r = y - expit(eta)
        grad = np.concatenate([np.bincount(a, r, m) - np.bincount(b, r, m), s.T @ r])
        return -ll.sum() + 0.5 * fit.l2 * x @ x, -grad + fit.l2 * x

    ref = minimize(f, np.zeros(m + 4), jac=True, method="BFGS", options={"gtol": 1e-11}).x
    assert np.abs(fit.logits - ref[:m]).max() < 1e-6
    assert fit.style is not None and np.abs(fit.style.coef - ref[m:]).max() < 1e-6


def test_bootstrap_is_seeded_and_agrees_with_sandwich() -> None:
    battles = simulate_battles(TRUTH, 20_000, style_coef=COEF, seed=5)
    fit = fit_style_control(battles, intervals=("sandwich", "bootstrap"), n_bootstrap=200)
    again = fit_style_control(battles, intervals=("bootstrap",), n_bootstrap=200, n_jobs=1)
    np.testing.assert_array_equal(fit.intervals["bootstrap"].samples,
                                  again.intervals["bootstrap"].samples)
    boot, sand = fit.intervals["bootstrap"], fit.intervals["sandwich"]
    ratio = (boot.upper - boot.lower) / (sand.upper - sand.lower)
    assert np.all((ratio > 0.75) & (ratio < 1.33))
    assert fit.style is not None
    blo, bhi = fit.style.intervals["bootstrap"]
    slo, shi = fit.style.intervals["sandwich"]
    assert np.all(((bhi - blo) / (shi - slo) > 0.75) & ((bhi - blo) / (shi - slo) < 1.33))


def test_needs_style_counts_and_known_features() -> None:
    battles = Battles.from_names(["x"], ["y"], ["model_a"])
    with pytest.raises(ValueError, match="style"):
        fit_style_control(battles)
    with pytest.raises(ValueError, match="features"):
        fit_style_control(simulate_battles(TRUTH, 100), features=("emoji",))
