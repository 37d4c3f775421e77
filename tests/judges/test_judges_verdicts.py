"""Verdict meaning: game weights, rewards, the swapped-position rule, VLFeedback pairs."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from app.judges import (
    ASPECTS,
    Games,
    ParseFailure,
    PreferencePair,
    RewardChoice,
    Verdict,
    answer_scores,
    battle_rows,
    combine_swapped,
    games,
    judged_battles,
    parse_pairwise,
    parse_ratings,
    preferred_side,
    reward,
    rewardbench_preferred,
    select_pairs,
    swapped_battle_rows,
    verdict_score,
)
from app.ranking.agreement import win_rate_vs_anchor

V = Verdict
FAIL = ParseFailure("arena-hard-verdict", "no [[...]] verdict")


def test_game_weights_arena_hard() -> None:
    assert games(V.A_MUCH_BETTER) == Games(a_wins=3)
    assert games(V.A_BETTER) == Games(a_wins=1)
    assert games(V.TIE) == Games(ties=1)
    assert games(V.B_BETTER) == Games(b_wins=1)
    assert games(V.B_MUCH_BETTER) == Games(b_wins=3)
    assert games(FAIL) == Games() and games(FAIL).total == 0


def test_rewards_from_either_side() -> None:
    assert [reward(v, "A") for v in V] == [100, 50, 0, -50, -100]
    assert [reward(v, "B") for v in V] == [-100, -50, 0, 50, 100]
    assert reward(FAIL, "A") is None
    assert verdict_score(V.B_MUCH_BETTER, "B") == 2
    with pytest.raises(ValueError):
        verdict_score(V.TIE, "C")  # type: ignore[arg-type]


def test_battle_rows_repeat_by_weight() -> None:
    assert battle_rows("x", "y", V.B_MUCH_BETTER) == [("x", "y", "model_b")] * 3
    assert battle_rows("x", "y", V.TIE) == [("x", "y", "tie")]
    assert battle_rows("x", "y", FAIL) == []


@pytest.mark.parametrize("label", [V.A_MUCH_BETTER, V.A_BETTER, V.TIE])
def test_a_judge_that_always_prefers_position_a_yields_ties(label: Verdict) -> None:
    j = combine_swapped(label, label)
    assert j.outcome == "tie"
    assert j.candidate_wins == j.anchor_wins
    assert j.reward == 0.0
    assert j.consistent is (label is V.TIE)


def test_position_biased_judge_gives_fifty_percent_in_bradley_terry() -> None:
    """Always "[[A>>B]]", whatever the order: the bench sees a candidate equal to the anchor."""
    always_a = parse_pairwise("[[A>>B]]")
    rows = []
    for _ in range(20):
        rows += swapped_battle_rows("cand", "anchor", always_a, always_a)
    a, b, w = zip(*rows, strict=True)
    judgments = [(x, y, always_a) for x, y in [("cand", "anchor"), ("anchor", "cand")] * 20]
    battles, failures = judged_battles(judgments)
    assert failures == 0 and len(battles) == len(rows) == 120
    assert sorted(zip(a, b, w, strict=True)) == sorted(
        zip(np.array(battles.models)[battles.model_a], np.array(battles.models)[battles.model_b],
            ["model_a" if o == 0 else "model_b" if o == 1 else "tie" for o in battles.outcome],
            strict=True))
    wr = win_rate_vs_anchor(battles, "anchor", n_bootstrap=50)
    assert wr["cand"][2] == pytest.approx(0.5, abs=1e-9)


@pytest.mark.parametrize(("as_a", "as_b", "outcome", "wins", "losses", "ties", "consistent",
                          "mean_reward"), [
    (V.A_MUCH_BETTER, V.B_MUCH_BETTER, "candidate", 6, 0, 0, True, 100.0),
    (V.A_BETTER, V.B_MUCH_BETTER, "candidate", 4, 0, 0, True, 75.0),
    (V.B_BETTER, V.A_BETTER, "anchor", 0, 2, 0, True, -50.0),
    (V.A_MUCH_BETTER, V.A_BETTER, "candidate", 3, 1, 0, False, 25.0),
    (V.A_BETTER, V.A_MUCH_BETTER, "anchor", 1, 3, 0, False, -25.0),
    (V.TIE, V.B_BETTER, "candidate", 1, 0, 1, False, 25.0),
    (V.TIE, V.TIE, "tie", 0, 0, 2, True, 0.0),
])
def test_combine_swapped(as_a: Verdict, as_b: Verdict, outcome: str, wins: int, losses: int,
                         ties: int, consistent: bool, mean_reward: float) -> None:
    j = combine_swapped(as_a, as_b)
    assert (j.outcome, j.candidate_wins, j.anchor_wins, j.ties) == (outcome, wins, losses, ties)
    assert j.consistent is consistent and j.failures == 0
    assert j.reward == mean_reward


def test_combine_swapped_with_failures_counts_the_parsed_order_only() -> None:
    j = combine_swapped(V.A_MUCH_BETTER, FAIL)
    assert (j.candidate_wins, j.anchor_wins, j.failures) == (3, 0, 1)
    assert j.outcome is None and j.consistent is None and j.reward == 100.0
    both = combine_swapped(FAIL, FAIL)
    assert both.failures == 2 and both.reward is None and both.outcome is None
    assert swapped_battle_rows("c", "a", FAIL, V.B_BETTER) == [("a", "c", "model_b")]


def test_judged_battles_reports_failures() -> None:
    battles, failures = judged_battles([("x", "y", V.A_MUCH_BETTER), ("x", "y", FAIL),
                                        ("y", "x", V.TIE)], models=["x", "y", "z"])
    assert failures == 1 and len(battles) == 4 and battles.models == ("x", "y", "z")
    empty, n = judged_battles([("x", "y", FAIL)])
    assert len(empty) == 0 and n == 1


def test_rewardbench_maps_back_through_the_shown_order() -> None:
    assert rewardbench_preferred(RewardChoice(1), (0, 1)) == 0
    assert rewardbench_preferred(RewardChoice(1), (1, 0)) == 1
    assert rewardbench_preferred(RewardChoice(2), (1, 0)) == 0
    assert rewardbench_preferred(ParseFailure("vlrewardbench-judgment", "x"), (0, 1)) is None
    with pytest.raises(ValueError):
        rewardbench_preferred(RewardChoice(1), (0, 0))


# ------------------------------------------------------------------ VLFeedback pairs

def row(h: int, v: int, e: int) -> dict[str, int]:
    return dict(zip(ASPECTS, (h, v, e), strict=True))


def test_pairs_over_all_combinations_ties_dropped() -> None:
    # means: 5, 4, 4, 2 -> pairs (0,1) (0,2) (0,3) (1,3) (2,3); (1,2) is an exact tie
    ratings = [row(5, 5, 5), row(3, 4, 5), row(4, 4, 4), row(1, 2, 3)]
    pairs = select_pairs(ratings)
    assert [(p.chosen, p.rejected) for p in pairs] == [(0, 1), (0, 2), (0, 3), (1, 3), (2, 3)]
    assert pairs[0] == PreferencePair(0, 1, 5.0, 4.0) and pairs[0].margin == 1.0


def test_reversed_order_chooses_the_higher_score() -> None:
    pairs = select_pairs([row(1, 1, 1), row(5, 5, 5)])
    assert [(p.chosen, p.rejected) for p in pairs] == [(1, 0)]


def test_margin_is_strict() -> None:
    ratings = [row(5, 5, 5), row(5, 5, 4), row(4, 4, 4)]  # 5, 14/3, 4
    assert len(select_pairs(ratings)) == 3
    assert [(p.chosen, p.rejected) for p in select_pairs(ratings, margin=1 / 3)] == [(0, 2),
                                                                                    (1, 2)]
    assert [(p.chosen, p.rejected) for p in select_pairs(ratings, margin=2 / 3)] == [(0, 2)]
    assert select_pairs(ratings, margin=1.0) == []  # a difference equal to the margin drops
    with pytest.raises(ValueError):
        select_pairs(ratings, margin=-1)


def test_weights_change_the_choice_and_ties_are_exact() -> None:
    ratings = [row(5, 1, 3), row(1, 5, 3)]  # equal means: a tie without weights
    assert select_pairs(ratings) == []
    only_faith = select_pairs(ratings, weights={"Helpfulness": 0, "Visual Faithfulness": 1,
                                                "Ethical Considerations": 0})
    assert [(p.chosen, p.rejected, p.chosen_score) for p in only_faith] == [(1, 0, 5.0)]
    # weights are read as decimals, so a tie that float rounding would break stays a tie
    w = {"Helpfulness": 0.1, "Visual Faithfulness": 0.3, "Ethical Considerations": 0.6}
    tie = [row(1, 1, 2), row(1, 3, 1)]  # .1+.3+1.2 = 1.6 vs .1+.9+.6 = 1.6
    assert 0.1 * 1 + 0.3 * 1 + 0.6 * 2 != 0.1 * 1 + 0.3 * 3 + 0.6 * 1  # plain floats differ
    assert answer_scores(tie, w)[0] == answer_scores(tie, w)[1] == Fraction(8, 5)
    assert select_pairs(tie, weights=w) == []
    assert len(select_pairs([row(1, 1, 2), row(1, 3, 2)], weights=w)) == 1
    with pytest.raises(ValueError, match="exactly the aspects"):
        select_pairs(ratings, weights={"Helpfulness": 1})
    with pytest.raises(ValueError, match="non-negative"):
        select_pairs(ratings, weights=dict.fromkeys(ASPECTS, 0))


def test_scores_are_exact_means() -> None:
    assert answer_scores([row(5, 4, 4)]) == (Fraction(13, 3),)


def test_pairs_from_parsed_ratings_and_bad_rows() -> None:
    text = "\n".join(line for k, aspect in enumerate(ASPECTS) for line in
                     [aspect] + [f"Text {n}\nRating: {[[4, 4, 4], [2, 3, 4]][n - 1][k]}\n"
                                 f"Rationale: r" for n in (1, 2)])
    parsed = parse_ratings(text, 2)
    assert [(p.chosen, p.rejected) for p in select_pairs(parsed)] == [(0, 1)]  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="missing aspects"):
        select_pairs([{"Helpfulness": 3}])
    with pytest.raises(ValueError, match="integers 1-5"):
        select_pairs([row(3, 3, 6), row(3, 3, 3)])
    assert select_pairs([row(3, 3, 3)]) == []  # one answer: no pair


def test_preferred_side_ignores_strength() -> None:
    assert [preferred_side(v) for v in Verdict] == ["A", "A", "tie", "B", "B"]
    assert preferred_side("B>>A") == "B" and preferred_side("A=B") == "tie"
    with pytest.raises(ValueError):
        preferred_side("A>>>B")
