"""Pair-frequency reweighting and the golden Bradley-Terry tests.

Reweighting cannot help when the data follow Bradley-Terry exactly (every weighting is then
consistent), so it is tested where it matters: preferences that are not one-dimensional
(two kinds of prompts with different model orders) and one pair sampled 20x more often.
The estimand is then "the ratings that equal pair frequencies would give".
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from app.ranking import (
    NONE,
    PAIR_FREQUENCY,
    Battles,
    Reweighting,
    fit_bradley_terry,
    fit_style_control,
    pair_factors,
    simulate_battles,
)
from app.ranking.bradley_terry import newton_pairs
from app.ranking.style import standardise, style_differences

KIND_1 = np.array([1.0, 0.5, 0.0, -0.5, -1.0])
KIND_2 = np.array([-1.9, 2.0, -0.8, -0.2, 0.2])  # models 0 and 1 swap places, strongly
BIG_PAIR = (0, 1)


def mixture_battles(seed: int, per_pair: int = 400, boost: int = 20) -> Battles:
    """Every pair ``per_pair`` battles, ``BIG_PAIR`` ``boost`` times as many; half the
    prompts follow ``KIND_1``'s order, half ``KIND_2``'s; 20% ties."""
    rng = np.random.default_rng(seed)
    m = KIND_1.size
    a, b = [], []
    for i in range(m):
        for j in range(i + 1, m):
            n = per_pair * (boost if (i, j) == BIG_PAIR else 1)
            a += [i] * n
            b += [j] * n
    a_arr, b_arr = np.array(a), np.array(b)
    swap = rng.random(a_arr.size) < 0.5  # random sides
    a_arr, b_arr = np.where(swap, b_arr, a_arr), np.where(swap, a_arr, b_arr)
    theta = np.where((rng.random(a_arr.size) < 0.5)[:, None], KIND_1, KIND_2)
    rows = np.arange(a_arr.size)
    p = expit(theta[rows, a_arr] - theta[rows, b_arr])
    tie_p = 0.2 * 2.0 * np.minimum(p, 1.0 - p)
    u = rng.random(a_arr.size)
    outcome = np.where(u < p - tie_p / 2, 0, np.where(u < p + tie_p / 2, 2, 1))
    return Battles(tuple(f"m{k}" for k in range(m)), a_arr, b_arr, outcome)


def equal_frequency_target() -> np.ndarray:
    """Logits Bradley-Terry gives with every pair equally often, on expected outcomes."""
    m = KIND_1.size
    i, j = np.triu_indices(m, 1)
    wins = 0.5 * expit(KIND_1[i] - KIND_1[j]) + 0.5 * expit(KIND_2[i] - KIND_2[j])
    return newton_pairs(i, j, m, wins * 1e6, np.full(i.size, 1e6), 1e-4, tol=1e-12)[0]


def test_pair_factors_floor_and_mean_one() -> None:
    n = np.array([10.0, 50.0, 100.0, 1000.0])
    f = pair_factors(n, PAIR_FREQUENCY)
    assert f is not None
    assert (n * f).sum() == pytest.approx(n.sum())  # mean 1 over battles
    # below the floor a pair counts as if it had 50 battles: weight ratio 50 / 10 capped
    np.testing.assert_allclose(f / f[1], [1.0, 1.0, 0.5, 0.05])
    assert pair_factors(n, NONE) is None and pair_factors(n, None) is None
    with pytest.raises(ValueError):
        Reweighting("inverse_pair_frequency", floor=0)
    with pytest.raises(ValueError):
        Reweighting("sqrt")  # type: ignore[arg-type]


def test_wikipedia_worked_example() -> None:
    """en.wikipedia.org/wiki/Bradley–Terry_model, "Worked example": 4 teams, 22 games;
    the page's answer (normalised to geometric mean 1) is p = (0.640, 1.043, 0.660, 2.270)."""
    games = [("A", "B", 2, 3), ("A", "D", 1, 4), ("B", "C", 5, 3), ("C", "D", 1, 3)]
    a, b, w = [], [], []
    for x, y, wins_x, wins_y in games:
        a += [x] * (wins_x + wins_y)
        b += [y] * (wins_x + wins_y)
        w += ["model_a"] * wins_x + ["model_b"] * wins_y
    battles = Battles.from_names(a, b, w)
    for reweighting in (None, PAIR_FREQUENCY):  # every pair is under the floor: same fit
        fit = fit_bradley_terry(battles, intervals=(), reweighting=reweighting)
        np.testing.assert_allclose(np.exp(fit.logits), [0.640, 1.043, 0.660, 2.270],
                                   atol=6e-4)


def weighted_raw_fit(battles: Battles, w: np.ndarray, l2: float,
                     s: np.ndarray | None = None) -> np.ndarray:
    """Weighted logistic regression on the un-aggregated rows, by BFGS (independent of the
    engine's pair aggregation and Newton solver)."""
    a, b, o = battles.model_a, battles.model_b, battles.outcome
    y = np.select([o == 0, o == 1], [1.0, 0.0], 0.5)
    m = len(battles.models)
    k = 0 if s is None else s.shape[1]

    def f(x: np.ndarray) -> tuple[float, np.ndarray]:
        eta = x[a] - x[b] + (0.0 if s is None else s @ x[m:])
        ll = w * (y * log_expit(eta) + (1 - y) * log_expit(-eta))
        r = w * (y - expit(eta))
        grad = np.bincount(a, r, m) - np.bincount(b, r, m)
        if s is not None:
            grad = np.concatenate([grad, s.T @ r])
        return -ll.sum() + 0.5 * l2 * x @ x, -grad + l2 * x

    res = minimize(f, np.zeros(m + k), jac=True, method="BFGS", options={"gtol": 1e-10})
    assert np.abs(f(res.x)[1]).max() < 1e-5
    return res.x


def row_weights(battles: Battles, floor: int = 50) -> np.ndarray:
    """1/max(n_pair, floor), mean 1: written out from the definition."""
    lo = np.minimum(battles.model_a, battles.model_b)
    hi = np.maximum(battles.model_a, battles.model_b)
    _, inverse, counts = np.unique(lo * 1000 + hi, return_inverse=True, return_counts=True)
    w = 1.0 / np.maximum(counts[inverse], floor)
    return w / w.mean()


def test_reweighted_fits_equal_an_independent_weighted_mle() -> None:
    battles = mixture_battles(seed=1, per_pair=60, boost=20)
    w = row_weights(battles)
    fit = fit_bradley_terry(battles, intervals=(), reweighting=PAIR_FREQUENCY)
    np.testing.assert_allclose(fit.logits, weighted_raw_fit(battles, w, fit.l2), atol=1e-6)

    styled = simulate_battles(KIND_1, 3000, style_coef=[0.3, 0.0, 0.2, 0.0], seed=2)
    keep = np.ones(len(styled), bool)
    # make one pair 20x as frequent by repeating its battles
    big = np.flatnonzero((np.minimum(styled.model_a, styled.model_b) == 0)
                         & (np.maximum(styled.model_a, styled.model_b) == 1))
    rows = np.concatenate([np.flatnonzero(keep), np.repeat(big, 19)])
    styled = styled.subset(rows)
    ws = row_weights(styled)
    sc = fit_style_control(styled, intervals=(), reweighting=PAIR_FREQUENCY)
    s, _, _ = standardise(style_differences(styled))
    ref = weighted_raw_fit(styled, ws, sc.l2, s)
    np.testing.assert_allclose(sc.logits, ref[:5], atol=1e-6)
    assert sc.style is not None
    np.testing.assert_allclose(sc.style.coef, ref[5:], atol=1e-6)


def test_reweighting_off_is_the_unweighted_fit_bit_for_bit() -> None:
    battles = simulate_battles(KIND_1, 5000, tie_rate=0.3, seed=3)
    base = fit_bradley_terry(battles, intervals=("bootstrap", "sandwich"), n_bootstrap=50)
    off = fit_bradley_terry(battles, intervals=("bootstrap", "sandwich"), n_bootstrap=50,
                            reweighting=NONE)
    np.testing.assert_array_equal(base.logits, off.logits)
    for method in ("bootstrap", "sandwich"):
        np.testing.assert_array_equal(base.intervals[method].lower, off.intervals[method].lower)
    sc = fit_style_control(battles, intervals=("sandwich",))
    sc_off = fit_style_control(battles, intervals=("sandwich",), reweighting=NONE)
    np.testing.assert_array_equal(sc.logits, sc_off.logits)
    np.testing.assert_array_equal(sc.intervals["sandwich"].upper,
                                  sc_off.intervals["sandwich"].upper)


def test_reweighted_fit_is_closer_to_the_equal_frequency_ratings() -> None:
    target = equal_frequency_target()
    err_w, err_u = [], []
    for seed in range(6):
        battles = mixture_battles(seed)
        weighted = fit_bradley_terry(battles, intervals=(), reweighting=PAIR_FREQUENCY)
        plain = fit_bradley_terry(battles, intervals=())
        err_w.append(np.abs(weighted.logits - target).max())
        err_u.append(np.abs(plain.logits - target).max())
    # the frequent pair drags the unweighted fit by 0.22 logits (38 Elo) in the limit
    assert np.median(err_u) > 0.15
    assert np.median(err_w) < 0.5 * np.median(err_u)
    assert sum(w < u for w, u in zip(err_w, err_u, strict=True)) >= 5


def test_weighted_sandwich_covers_the_target_at_its_nominal_rate() -> None:
    target = equal_frequency_target()
    hits, n = 0, 0
    widths = []
    for seed in range(200):
        battles = mixture_battles(100 + seed, per_pair=200)
        fit = fit_bradley_terry(battles, intervals=("sandwich",), reweighting=PAIR_FREQUENCY)
        iv = fit.intervals["sandwich"]
        truth = fit.rating_scale.to_ratings(fit.models, target)
        hits += int(((iv.lower <= truth) & (truth <= iv.upper)).sum())
        n += truth.size
        widths.append(iv.upper - iv.lower)
    # 1000 model-intervals; a binomial(1000, 0.95) lies in [0.93, 0.97] with p > 0.999
    assert 0.93 <= hits / n <= 0.97, hits / n
    # and the bootstrap of the same weighted estimator agrees on the width
    boot = fit_bradley_terry(mixture_battles(7, per_pair=200), intervals=("bootstrap",),
                             n_bootstrap=400, reweighting=PAIR_FREQUENCY)
    ratio = (boot.intervals["bootstrap"].upper - boot.intervals["bootstrap"].lower) / np.mean(
        widths, axis=0)
    assert np.all((ratio > 0.8) & (ratio < 1.25)), ratio


def test_style_control_reweighted_sandwich_and_bootstrap_agree() -> None:
    battles = simulate_battles(KIND_1, 6000, style_coef=[0.3, 0.0, 0.2, 0.0], seed=4)
    big = np.flatnonzero((np.minimum(battles.model_a, battles.model_b) == 0)
                         & (np.maximum(battles.model_a, battles.model_b) == 1))
    battles = battles.subset(np.concatenate([np.arange(len(battles)), np.repeat(big, 19)]))
    fit = fit_style_control(battles, intervals=("sandwich", "bootstrap"), n_bootstrap=100,
                            reweighting=PAIR_FREQUENCY)
    boot, sand = fit.intervals["bootstrap"], fit.intervals["sandwich"]
    ratio = (boot.upper - boot.lower) / (sand.upper - sand.lower)
    assert np.all((ratio > 0.7) & (ratio < 1.4)), ratio
