"""The bench's score against hand-computed cases: games (strong x3, ties, unparsable 0),
Bradley-Terry win rate vs the anchor, rewards, verdict counts, agreement with the arena."""

from __future__ import annotations

import pytest

from app.bench.score import PairJudgment, ScoreError, bench_agreement, score_bench
from app.judges.results import ParseFailure, Verdict
from app.ranking.agreement import confidence_agreement, kendall_tau, separability, spearman

V = Verdict
BAD = ParseFailure("arena-hard-verdict", "no [[...]] verdict")


def row(score, model):  # type: ignore[no-untyped-def]
    return next(r for r in score.rows if r.model == model)


def test_win_rate_rewards_and_counts_by_hand() -> None:
    # q1: candidate first "A>>B" (3 wins), candidate second "B>A" (1 win);
    # q2: candidate first "A=B" (1 tie), candidate second "A>B" (1 loss); q3 unparsable.
    # 4 wins, 1 tie, 1 loss: the Bradley-Terry probability of beating the anchor is
    # (4 + 1/2) / 6 = 75%. Rewards (candidate's side): +100, +50, 0, -50 -> 25.
    pairs = [PairJudgment("cand", "q1", V("A>>B"), V("B>A")),
             PairJudgment("cand", "q2", V("A=B"), V("A>B")),
             PairJudgment("cand", "q3", BAD, None)]
    score = score_bench("anchor", pairs, {"cand": [10, 20, 30], "anchor": [4]},
                        n_bootstrap=50)
    c = row(score, "cand")
    assert c.win_rate == pytest.approx(75.0, abs=0.01)
    assert c.ci_lower is not None and c.ci_upper is not None
    assert c.ci_lower <= c.win_rate <= c.ci_upper
    assert c.reward == pytest.approx(25.0)
    assert c.verdicts == {"much_better": 1, "better": 1, "tie": 1, "worse": 1,
                          "much_worse": 0, "unparsable": 1, "failed": 1}
    assert c.answer_tokens == pytest.approx(20.0) and c.questions == 3
    assert c.consistent == pytest.approx(0.5)  # q1 agrees on the side, q2 does not
    assert (score.games, score.unparsable, score.failed) == (6, 1, 1)
    a = row(score, "anchor")
    assert (a.win_rate, a.ci_lower, a.ci_upper, a.anchor) == (50.0, 50.0, 50.0, True)
    assert a.answer_tokens == 4.0
    assert [r.model for r in score.rows] == ["cand", "anchor"]


def test_a_judge_that_always_prefers_position_a_gives_ties_not_a_winner() -> None:
    pairs = [PairJudgment(m, f"q{i}", V("A>B"), V("A>B")) for m in ("x", "y") for i in range(5)]
    score = score_bench("anchor", pairs, n_bootstrap=50)
    for m in ("x", "y"):
        r = row(score, m)
        assert r.win_rate == pytest.approx(50.0, abs=0.01)
        assert r.verdicts["better"] == r.verdicts["worse"] == 5
        assert r.reward == 0.0 and r.consistent == 0.0
    # the strong form too
    strong = score_bench("anchor", [PairJudgment("x", "q", V("A>>B"), V("A>>B"))],
                         n_bootstrap=20)
    assert row(strong, "x").win_rate == pytest.approx(50.0, abs=0.01)


def test_nothing_parsable_is_an_error_not_a_score() -> None:
    with pytest.raises(ScoreError, match="no judgment parsed"):
        score_bench("anchor", [PairJudgment("x", "q", BAD, BAD)])
    with pytest.raises(ValueError, match="anchor"):
        score_bench("anchor", [PairJudgment("anchor", "q", V("A=B"), V("A=B"))])


def test_same_seed_same_interval() -> None:
    pairs = [PairJudgment("x", f"q{i}", V("A>B" if i % 3 else "B>A"), V("B>>A"))
             for i in range(12)]
    first = score_bench("anchor", pairs, n_bootstrap=40, seed=3)
    again = score_bench("anchor", pairs, n_bootstrap=40, seed=3)
    assert first.as_json() == again.as_json()


def test_agreement_with_the_arena_by_hand() -> None:
    arena = {"m1": (1080.0, 1120.0, 1100.0), "m2": (980.0, 1020.0, 1000.0),
             "m3": (880.0, 920.0, 900.0), "m4": (870.0, 930.0, 905.0)}
    # m3 and m4 overlap in the arena: 5 confident pairs (m1>m2, m1>m3, m1>m4, m2>m3, m2>m4).
    bench = {"m1": (60.0, 80.0, 70.0), "m2": (45.0, 65.0, 55.0), "m3": (20.0, 40.0, 30.0),
             "m4": (25.0, 35.0, 28.0)}
    a = bench_agreement(bench, arena)
    # m1/m2 overlap on the bench (+0.5), the other four pairs are disjoint in order (+1).
    assert a["confidence_agreement"] == pytest.approx(4.5 / 5)
    assert a["n_confident_pairs"] == 5
    # bench order m1, m2, m3, m4 vs arena m1, m2, m4, m3: one discordant pair of six.
    assert a["kendall_tau"] == pytest.approx((5 - 1) / 6)
    assert a["spearman"] == pytest.approx(1 - 6 * 2 / (4 * 15))
    # bench pairs disjoint: m1-m3, m1-m4, m2-m3, m2-m4 (4 of 6)
    assert a["separability"] == pytest.approx(4 / 6)
    scores_a = {m: v[2] for m, v in arena.items()}
    scores_b = {m: v[2] for m, v in bench.items()}
    assert a["spearman"] == spearman(scores_a, scores_b)
    assert a["kendall_tau"] == kendall_tau(scores_a, scores_b)
    assert a["confidence_agreement"] == confidence_agreement(arena, bench)
    assert a["separability"] == separability(bench)
    assert a["models"] == ["m1", "m2", "m3", "m4"]
