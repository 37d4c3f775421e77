"""Agreement measures against hand-computed cases (and scipy for the correlations)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from app.ranking import Battles
from app.ranking.agreement import (
    agreement,
    confidence_agreement,
    kendall_tau,
    separability,
    spearman,
    win_rate_vs_anchor,
)

# x all distinct, y with one tie (7, 7).
X = [1, 2, 3, 4, 5]
Y = [5, 6, 7, 8, 7]
# ties in both rankings
XT = [1, 1, 2, 3]
YT = [1, 2, 2, 3]


def test_spearman_hand_computed_with_ties() -> None:
    # ranks of Y: 1, 2, 3.5, 5, 3.5; centred X -2..2, centred Y -2, -1, .5, 2, .5
    # rho = 8 / sqrt(10 * 9.5)
    assert spearman(X, Y) == pytest.approx(8 / math.sqrt(95), abs=1e-12)
    # ranks 1.5 1.5 3 4 and 1 2.5 2.5 4: 3.75 / 4.5
    assert spearman(XT, YT) == pytest.approx(3.75 / 4.5, abs=1e-12)


def test_kendall_tau_b_hand_computed_with_ties() -> None:
    # 10 pairs: 8 concordant, 1 discordant, 1 tied in Y -> 7 / sqrt(10 * 9)
    assert kendall_tau(X, Y) == pytest.approx(7 / math.sqrt(90), abs=1e-12)
    # 6 pairs: 4 concordant, 0 discordant, one tied in each -> 4 / sqrt(5 * 5)
    assert kendall_tau(XT, YT) == pytest.approx(0.8, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_correlations_match_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 6, size=12).astype(float)  # many ties
    b = a + rng.integers(-2, 3, size=12)
    assert spearman(list(a), list(b)) == pytest.approx(stats.spearmanr(a, b).statistic,
                                                       abs=1e-12)
    assert kendall_tau(list(a), list(b)) == pytest.approx(
        stats.kendalltau(a, b, variant="b").statistic, abs=1e-12)


def test_perfect_reversed_and_undefined() -> None:
    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3], [5, 5, 5]) is None
    assert kendall_tau([1, 1, 1], [1, 2, 3]) is None
    assert spearman([1], [2]) is None and kendall_tau([], []) is None


def test_mappings_are_aligned_on_common_models() -> None:
    a = {"a": 1.0, "b": 2.0, "c": 3.0, "only-a": 9.0}
    b = {"c": 30.0, "b": 20.0, "a": 10.0, "only-b": 0.0}
    assert spearman(a, b) == pytest.approx(1.0)
    assert kendall_tau(a, b) == pytest.approx(1.0)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="length"):
        spearman([1, 2], [1, 2, 3])
    with pytest.raises(TypeError):
        spearman({"a": 1.0}, [1.0])
    with pytest.raises(ValueError, match="finite"):
        kendall_tau([1, float("nan")], [1, 2])


# Arena: A > B, C > D confidently; B and C overlap (7..9 vs 6..8), so 5 confident pairs.
ARENA = {"A": (10, 12, 11), "B": (7, 9, 8), "C": (6, 8, 7), "D": (1, 3, 2)}
# Bench: A-B overlap (0.5), A-C same (1), A-D same (1), B-D same (1), C-D reversed (0).
BENCH = {"A": (20, 30, 25), "B": (25, 35, 30), "C": (0, 10, 5), "D": (12, 18, 15)}


def test_confidence_agreement_hand_computed() -> None:
    assert confidence_agreement(ARENA, BENCH) == pytest.approx(3.5 / 5)
    assert confidence_agreement(ARENA, ARENA) == pytest.approx(1.0)


def test_confidence_agreement_single_cases() -> None:
    arena = {"p": (5, 6, 5.5), "q": (1, 2, 1.5)}
    assert confidence_agreement(arena, {"p": (3, 4, 3.5), "q": (0, 1, 0.5)}) == 1.0
    assert confidence_agreement(arena, {"p": (0, 1, 0.5), "q": (3, 4, 3.5)}) == 0.0
    assert confidence_agreement(arena, {"p": (0, 3, 1.5), "q": (2, 4, 3)}) == 0.5
    # touching intervals overlap
    assert confidence_agreement(arena, {"p": (2, 3, 2.5), "q": (1, 2, 1.5)}) == 0.5


def test_confidence_agreement_without_confident_pairs_is_none() -> None:
    overlapping = {"p": (0, 2, 1), "q": (1, 3, 2)}
    assert confidence_agreement(overlapping, BENCH | overlapping) is None
    assert confidence_agreement(ARENA, {"A": (0, 1, 0.5)}) is None  # one common model
    with pytest.raises(ValueError, match="'p'"):
        confidence_agreement({"p": (float("nan"), 1, 0), "q": (0, 1, 0)}, BENCH)
    with pytest.raises(ValueError):
        confidence_agreement({"p": (2, 1, 0)}, BENCH)


def test_separability() -> None:
    assert separability(BENCH) == pytest.approx(5 / 6)  # only A-B overlaps
    assert separability(ARENA) == pytest.approx(5 / 6)  # only B-C overlaps
    assert separability({"p": (0, 1, 0), "q": (1, 2, 1)}) == 0.0  # touching
    assert separability({"p": (0, 1, 0)}) is None


def test_agreement_bundle() -> None:
    ag = agreement(ARENA | {"E": (0, 1, 0.5)}, BENCH)
    assert ag.n_models == 4 and ag.n_confident_pairs == 5
    assert ag.confidence_agreement == pytest.approx(0.7)
    assert ag.separability == pytest.approx(5 / 6)
    # scores A 11 B 8 C 7 D 2 vs 25 30 5 15: ranks 4 3 2 1 vs 3 4 1 2
    assert ag.spearman == pytest.approx(spearman([4, 3, 2, 1], [3, 4, 1, 2]))
    assert ag.spearman == pytest.approx(0.6)
    # pairs: AB d, AC c, AD c, BC c, BD c, CD d -> (4 - 2) / 6
    assert ag.kendall_tau == pytest.approx(2 / 6)


def test_win_rate_vs_anchor_two_models() -> None:
    # candidate beats the anchor 3 times of 4: the MLE is P = 3/4 (the ridge is negligible)
    battles = Battles.from_names(["cand"] * 4, ["anchor"] * 4, ["model_a"] * 3 + ["model_b"])
    wr = win_rate_vs_anchor(battles, "anchor", n_bootstrap=200, seed=1)
    assert wr["anchor"] == (0.5, 0.5, 0.5)
    lo, hi, score = wr["cand"]
    assert score == pytest.approx(0.75, abs=1e-3)
    assert lo <= score <= hi


def test_win_rate_vs_anchor_orders_models_and_skips_the_unplayed() -> None:
    rows = ([("strong", "anchor", "model_a")] * 80 + [("strong", "anchor", "model_b")] * 20
            + [("weak", "anchor", "model_a")] * 30 + [("weak", "anchor", "model_b")] * 70)
    a, b, w = zip(*rows, strict=True)
    battles = Battles.from_names(a, b, w, models=["anchor", "idle", "strong", "weak"])
    wr = win_rate_vs_anchor(battles, "anchor", n_bootstrap=300, seed=0)
    assert set(wr) == {"anchor", "strong", "weak"}
    assert wr["strong"][2] == pytest.approx(0.8, abs=2e-3)
    assert wr["weak"][2] == pytest.approx(0.3, abs=2e-3)
    assert wr["strong"][0] > 0.5 > wr["weak"][1]  # both confidently separated from 50%
    assert separability(wr) == 1.0
