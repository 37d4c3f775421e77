"""Slices and pairwise matrices."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from app.ranking import (
    CATEGORIES,
    BattleRecord,
    Battles,
    StyleCounts,
    battle_count_matrix,
    battles_from_records,
    build_slices,
    fit_bradley_terry,
    fit_slices,
    predicted_win_matrix,
    simulate_battles,
    slice_tags_from_records,
    win_rate_matrix,
)


def test_slices_filter_and_skip_small_ones() -> None:
    rng = np.random.default_rng(0)
    outcomes = ("model_a", "model_b", "tie", "tie (bothbad)")
    records = [
        BattleRecord(battle_id=str(k), model_a=f"m{k % 3}", model_b=f"m{(k + 1) % 3}",
                     winner=outcomes[k % 4], anonymous=True, tstamp=float(k),
                     visitor_id="v", ip_hash="h", language="en" if k % 5 else "de",
                     categories=frozenset({"ocr"} if k % 2 else {"ocr", "humor"}),
                     turns=1 + (k % 3 == 0), style_a=StyleCounts(10, 0, 1, 0),
                     style_b=StyleCounts(int(rng.integers(1, 20)), 1, 0, 0))
        for k in range(600)
    ]
    battles = battles_from_records(records)
    assert battles.style_a is not None and len(battles) == 600
    slices = build_slices(battles, slice_tags_from_records(records))
    by_name = {s.name: s for s in slices}
    assert [s.name for s in slices[: len(CATEGORIES)]] == [f"category:{c}" for c in CATEGORIES]
    assert by_name["category:ocr"].n_votes == 600
    assert by_name["category:humor"].n_votes == 300
    assert by_name["language:de"].n_votes == 120 and by_name["language:en"].n_votes == 480
    assert by_name["multi_turn"].n_votes == 200
    assert by_name["no_ties"].n_votes == 300
    fit = functools.partial(fit_bradley_terry, intervals=())
    result = fit_slices(battles, slices, fit, min_votes=250)
    assert set(result.fitted) == {"category:ocr", "category:humor", "language:en", "no_ties"}
    assert result.skipped["language:de"] == 120 and result.skipped["category:code"] == 0
    assert result.fitted["no_ties"].n_battles.sum() == 2 * 300


def test_matrices() -> None:
    battles = Battles.from_names(["x", "x", "y", "x", "z"], ["y", "y", "x", "z", "x"],
                                 ["model_a", "tie", "model_a", "model_b", "tie (bothbad)"])
    counts = battle_count_matrix(battles)
    np.testing.assert_array_equal(counts, [[0, 3, 2], [3, 0, 0], [2, 0, 0]])
    wins = win_rate_matrix(battles)
    assert wins[0, 1] == pytest.approx(1.5 / 3) and wins[1, 0] == pytest.approx(1.5 / 3)
    assert wins[0, 2] == pytest.approx(0.25) and np.isnan(wins[1, 2])
    assert win_rate_matrix(battles, bothbad="drop")[0, 2] == 0.0
    fit = fit_bradley_terry(simulate_battles([1.0, 0.0, -1.0], 30_000, seed=1), intervals=())
    pred = predicted_win_matrix(fit)
    assert np.all(np.isnan(np.diag(pred)))
    off = ~np.eye(3, dtype=bool)
    np.testing.assert_allclose((pred + pred.T)[off], 1.0)
    assert pred[0, 2] == pytest.approx(1 / (1 + np.exp(-2.0)), abs=0.03)
