"""Bradley-Terry: agreement with an independent fit, recovery, gauge, CIs and coverage."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from app.ranking import (
    BOTHBAD,
    Battles,
    fit_bradley_terry,
    rank_from_bounds,
    simulate_battles,
)
from app.ranking.simulate import centred

TRUTH = np.array([0.8, 0.3, 0.0, -0.2, -0.4, -0.5])


def raw_rows_fit(battles: Battles, l2: float, drop_bothbad: bool = False) -> np.ndarray:
    """Logistic regression on un-aggregated rows (tie = 0.5), solved by BFGS."""
    keep = battles.outcome != BOTHBAD if drop_bothbad else np.ones(len(battles), bool)
    a, b, o = battles.model_a[keep], battles.model_b[keep], battles.outcome[keep]
    y = np.select([o == 0, o == 1], [1.0, 0.0], 0.5)
    m = len(battles.models)

    def f(theta: np.ndarray) -> tuple[float, np.ndarray]:
        eta = theta[a] - theta[b]
        ll = y * log_expit(eta) + (1 - y) * log_expit(-eta)
        r = y - expit(eta)
        grad = np.bincount(a, r, m) - np.bincount(b, r, m)
        return -ll.sum() + 0.5 * l2 * theta @ theta, -grad + l2 * theta

    res = minimize(f, np.zeros(m), jac=True, method="BFGS", options={"gtol": 1e-11})
    assert np.abs(f(res.x)[1]).max() < 1e-6
    return res.x


@pytest.mark.parametrize("drop", [False, True])
def test_matches_logistic_regression_on_raw_rows(drop: bool) -> None:
    battles = simulate_battles(TRUTH, 4000, tie_rate=0.3, seed=1)
    fit = fit_bradley_terry(battles, intervals=(), bothbad="drop" if drop else "tie")
    ref = raw_rows_fit(battles, fit.l2, drop_bothbad=drop)
    assert np.abs(fit.logits - ref).max() < 1e-6


def test_recovers_known_strengths_within_sandwich_errors() -> None:
    battles = simulate_battles(TRUTH, 60_000, seed=2)
    fit = fit_bradley_terry(battles, intervals=("sandwich",))
    se_logit = fit.intervals["sandwich"].se / fit.rating_scale.factor
    err = np.abs(fit.logits - centred(TRUTH))
    assert np.all(err < 4 * se_logit)
    assert np.all(se_logit < 0.03)
    assert list(fit.order()) == list(range(TRUTH.size))


def test_rating_scale_and_anchor() -> None:
    battles = simulate_battles(TRUTH, 5000, seed=3)
    plain = fit_bradley_terry(battles, intervals=("sandwich",))
    anchored = fit_bradley_terry(battles, anchor="m2", anchor_rating=1200.0,
                                 intervals=("sandwich", "bootstrap"), n_bootstrap=50)
    np.testing.assert_allclose(plain.ratings, 1000 + 400 / np.log(10) * plain.logits)
    assert plain.ratings.mean() == pytest.approx(1000.0)
    assert anchored.ratings[2] == pytest.approx(1200.0)
    np.testing.assert_allclose(np.diff(anchored.ratings), np.diff(plain.ratings))
    for iv in anchored.intervals.values():  # the anchor is fixed, so its interval is a point
        assert iv.upper[2] - iv.lower[2] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="anchor"):
        fit_bradley_terry(battles, anchor="nope")


def test_disconnected_graph_and_model_without_battles() -> None:
    models = ("a", "b", "c", "d", "idle")
    battles = Battles.from_names(
        ["a", "a", "b", "c", "c", "d"] * 20, ["b", "b", "a", "d", "d", "c"] * 20,
        ["model_a", "tie", "model_b", "model_a", "model_b", "tie"] * 20, models=models)
    fit = fit_bradley_terry(battles, n_bootstrap=100)
    assert np.all(np.isfinite(fit.logits))
    assert fit.component[0] == fit.component[1] != fit.component[2] == fit.component[3]
    assert fit.logits[0] + fit.logits[1] == pytest.approx(0.0, abs=1e-9)  # centred per part
    assert fit.logits[2] + fit.logits[3] == pytest.approx(0.0, abs=1e-9)
    assert fit.logits[0] > fit.logits[1]
    assert fit.n_battles[4] == 0 and fit.ratings[4] == 1000.0
    for iv in fit.intervals.values():
        assert np.isnan(iv.lower[4]) and np.isnan(iv.upper[4]) and iv.rank[4] == 0
        assert np.all(np.isfinite(iv.lower[:4])) and np.all(iv.rank[:4] >= 1)


def test_bootstrap_is_seeded_and_independent_of_threads() -> None:
    battles = simulate_battles(TRUTH, 3000, seed=4)
    one = fit_bradley_terry(battles, intervals=("bootstrap",), n_bootstrap=250, seed=7,
                            n_jobs=1).intervals["bootstrap"]
    two = fit_bradley_terry(battles, intervals=("bootstrap",), n_bootstrap=250, seed=7,
                            n_jobs=2).intervals["bootstrap"]
    other = fit_bradley_terry(battles, intervals=("bootstrap",), n_bootstrap=250, seed=8,
                              n_jobs=1).intervals["bootstrap"]
    assert one.samples is not None and one.samples.shape == (250, TRUTH.size)
    np.testing.assert_array_equal(one.samples, two.samples)
    assert not np.array_equal(one.samples, other.samples)


def test_bootstrap_refits_match_exact_fits_of_resampled_counts() -> None:
    """Each bootstrap round is the MLE of its resampled data, not an approximation."""
    from app.ranking.bradley_terry import bootstrap_logits, newton_pairs
    from app.ranking.pairs import aggregate_pairs
    from app.ranking.sampling import PoissonSampler

    battles = simulate_battles(TRUTH, 2000, seed=5)
    counts = aggregate_pairs(battles)
    fit = fit_bradley_terry(battles, intervals=())
    logits = bootstrap_logits(counts, fit.logits, 5, seed=3, n_jobs=1)
    rng = np.random.default_rng(np.random.SeedSequence(3).spawn(1)[0])
    draw = PoissonSampler(counts.cells.reshape(-1)).draw(rng, 5).reshape(5, -1, 3)
    for r in range(5):
        wins, totals = draw[r, :, 0] + 0.5 * draw[r, :, 2], draw[r].sum(axis=1)
        exact = newton_pairs(counts.i, counts.j, TRUTH.size, wins, totals, fit.l2)[0]
        assert np.abs(logits[r] - exact).max() < 1e-6


@pytest.mark.parametrize("resample", ["poisson", "multinomial"])
def test_bootstrap_and_sandwich_agree_on_width(resample: str) -> None:
    battles = simulate_battles(TRUTH, 20_000, seed=6)
    fit = fit_bradley_terry(battles, n_bootstrap=400, resample=resample)  # type: ignore[arg-type]
    boot, sand = fit.intervals["bootstrap"], fit.intervals["sandwich"]
    ratio = (boot.upper - boot.lower) / (sand.upper - sand.lower)
    assert np.all((ratio > 0.8) & (ratio < 1.25))


def test_rank_is_one_plus_models_clearly_above() -> None:
    lower = np.array([10.0, 8.0, 2.0, 1.0])
    upper = np.array([12.0, 11.0, 9.0, 3.0])
    assert list(rank_from_bounds(lower, upper)) == [1, 1, 2, 3]


def test_intervals_cover_the_truth_about_95_percent() -> None:
    """200 small simulations; each interval should contain the true (centred) rating."""
    truth = centred(TRUTH)
    hits = {"sandwich": 0, "bootstrap": 0}
    total = 0
    for sim in range(200):
        battles = simulate_battles(TRUTH, 900, seed=1000 + sim)
        fit = fit_bradley_terry(battles, n_bootstrap=200, seed=sim, n_jobs=1)
        true_ratings = fit.rating_scale.to_ratings(fit.models, truth)
        for name, iv in fit.intervals.items():
            hits[name] += int(np.sum((iv.lower <= true_ratings) & (true_ratings <= iv.upper)))
        total += TRUTH.size
    for name, hit in hits.items():
        assert 0.88 <= hit / total <= 0.99, (name, hit / total)


@pytest.mark.parametrize("lam", [0.0, 1.0, 3.0, 40.0, 250.0])
def test_poisson_sampler_draws_poisson(lam: float) -> None:
    from scipy.stats import chisquare, poisson

    from app.ranking.sampling import PoissonSampler

    x = PoissonSampler([lam, 7.0]).draw(np.random.default_rng(1), 40_000)[:, 0]
    if lam == 0.0:
        assert np.all(x == 0)
        return
    lo, hi = poisson.ppf([0.001, 0.999], lam)
    edges = np.arange(lo, hi + 2)
    observed = np.histogram(np.clip(x, lo, hi), edges)[0]
    probs = np.diff(poisson.cdf(edges - 1, lam))
    probs[0] += poisson.cdf(lo - 1, lam)
    probs[-1] += poisson.sf(hi, lam)
    assert chisquare(observed, probs / probs.sum() * x.size).pvalue > 1e-3
