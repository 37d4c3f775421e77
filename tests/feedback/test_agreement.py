"""AI-human agreement arithmetic: AI ties kept out of the rate and counted, groups per judge,
model pair (order-free) and day, the Wilson interval, decisive votes only. (On the real
stack, the rate from the real judge's ratings equals a hand count: test_feedback_stack.)"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.feedback.agreement import AgreementItem, agreement, rate, wilson

D1, D2 = datetime(2026, 12, 1, 9, tzinfo=UTC), datetime(2026, 12, 2, 23, 59, tzinfo=UTC)


def item(n: int, human: str, a: float, b: float, *, judge: str = "j", pair: tuple[str, str]
         = ("x", "y"), at: datetime = D1) -> AgreementItem:
    return AgreementItem(f"b{n}", judge, pair[0], pair[1], human, a, b, at)  # type: ignore[arg-type]


def test_rates_groups_and_ties() -> None:
    items = [
        item(1, "model_a", 5, 1), item(2, "model_b", 5, 1), item(3, "model_b", 2, 4),
        item(4, "model_a", 3, 3),  # AI tie
        item(5, "model_a", 4, 2, pair=("y", "x"), at=D2),  # same pair, other order
        item(6, "model_b", 1, 5, judge="k", pair=("x", "z"), at=D2),
    ]
    report = agreement(items)
    o = report.overall
    assert (o.n, o.agree, o.ai_ties, o.rate) == (5, 4, 1, 0.8)
    assert (o.ci_lower, o.ci_upper) == pytest.approx(wilson(4, 5))
    assert {j: (r.n, r.agree) for j, r in report.by_judge.items()} == {"j": (4, 3), "k": (1, 1)}
    assert {k: (r.n, r.agree, r.ai_ties) for k, r in report.by_pair.items()} == {
        ("j", "x", "y"): (4, 3, 1), ("k", "x", "z"): (1, 1, 0)}
    assert {k: (r.n, r.agree) for k, r in report.by_day.items()} == {
        ("j", "2026-12-01"): (3, 2), ("j", "2026-12-02"): (1, 1), ("k", "2026-12-02"): (1, 1)}
    js = report.as_json()
    assert js["overall"]["rate"] == 0.8 and js["interval"] == "wilson"
    assert js["by_pair"][0] == {"judge": "j", "model_a": "x", "model_b": "y", "n": 4,
                                "agree": 3, "ai_ties": 1, "rate": 0.75,
                                "ci_lower": pytest.approx(wilson(3, 4)[0]),
                                "ci_upper": pytest.approx(wilson(3, 4)[1])}


def test_empty_and_bad_input() -> None:
    empty = rate([])
    assert (empty.n, empty.rate, empty.ci_lower) == (0, None, None)
    only_ties = rate([item(1, "model_a", 2, 2)])
    assert (only_ties.n, only_ties.ai_ties, only_ties.rate) == (0, 1, None)
    assert wilson(0, 0) is None
    lo, hi = wilson(10, 10)  # type: ignore[misc]
    assert hi == pytest.approx(1.0) and 0.69 < lo < 0.73
    for bad in ("tie", "tie (bothbad)", "A"):
        with pytest.raises(ValueError, match="decisive"):
            item(1, bad, 1, 2)
