"""The VL-RewardBench protocol and metrics against hand-counted cases."""

from __future__ import annotations

from collections import Counter
from math import comb

import pytest

from app.judges.inputs import ImageInput
from app.judges.results import ParseFailure, RewardChoice
from app.rewardbench.items import RewardItem, domain_of, source_of
from app.rewardbench.protocol import (
    Repetition,
    classify,
    consistency_pairs,
    score,
    shown_order,
    wilson,
)

FAIL = ParseFailure("vlrewardbench-judgment", "no verdict")


def item(item_id: str = "x", ranking: tuple[int, int] = (0, 1), source: str = "other"
         ) -> RewardItem:
    return RewardItem(item_id, "q?", ImageInput.from_bytes(item_id.encode()), ("r0", "r1"),
                      ranking, source=source)


def rep(shown: tuple[int, int], said: int | None) -> Repetition:
    return Repetition(shown, FAIL if said is None else RewardChoice(said))  # type: ignore[arg-type]


def test_verdicts_map_back_through_the_shown_order_and_the_ranking() -> None:
    preferred_second = item(ranking=(1, 0))  # response 1 is the one people preferred
    assert preferred_second.preferred == 1
    # shown swapped: "Answer 1" is response 1 -> agrees
    assert rep((1, 0), 1).label(preferred_second) == "agree"
    assert rep((1, 0), 2).label(preferred_second) == "reject"
    assert rep((0, 1), 2).label(preferred_second) == "agree"
    assert rep((0, 1), None).label(preferred_second) == "unparsable"
    assert Repetition((0, 1), None).label(preferred_second) == "unparsable"  # failed call


def test_majority_as_the_reference() -> None:
    it = item()
    agree, reject = rep((0, 1), 1), rep((0, 1), 2)
    assert classify(it, [agree, agree, reject]) == "agree"
    assert classify(it, [agree, reject, reject]) == "reject"
    assert classify(it, [agree, reject]) == "split"  # no label above half
    assert classify(it, [rep((0, 1), None)] * 2 + [agree]) == "unparsable"
    assert classify(it, [agree, reject, rep((0, 1), None)]) == "split"


def test_position_consistency_counts_swapped_parsed_pairs() -> None:
    # a judge that always says "Answer 1": opposite orders never pick the same response
    assert consistency_pairs([rep((0, 1), 1), rep((1, 0), 1), rep((1, 0), 1)]) == (0, 2)
    # a judge that reads the answers: the same response in both orders
    assert consistency_pairs([rep((0, 1), 1), rep((1, 0), 2), rep((0, 1), 1)]) == (2, 2)
    # same-order pairs and unparsable outputs do not count
    assert consistency_pairs([rep((0, 1), 1), rep((0, 1), 2), rep((1, 0), None)]) == (0, 0)


def test_metrics_hand_counted() -> None:
    h1, h2 = item("RLAIF-V-1", source="rlaif-v"), item("povid_2", source="povid")
    g1, g2 = item("wildvision-battle-3", source="wildvision-battle"), item("arena-4")
    r1 = item("mathverse_5", source="mathverse")
    a, b = rep((0, 1), 1), rep((1, 0), 2)  # both agree (response 0 preferred)
    no = rep((0, 1), 2)
    results = [
        (h1, [a, b, a]),                    # agree
        (h2, [no, no, rep((1, 0), None)]),  # reject, 1 parse failure
        (g1, [a, no, rep((0, 1), None)]),   # split
        (g2, [rep((0, 1), None)] * 3),      # unparsable
        (r1, [b, b, no]),                   # agree
    ]
    m = score(results)
    assert {d: (t.agree, t.reject, t.split, t.unparsable) for d, t in m.domains.items()} == {
        "general": (0, 0, 1, 1), "hallucination": (1, 1, 0, 0), "reasoning": (1, 0, 0, 0)}
    assert m.overall.accuracy == pytest.approx(2 / 3)  # decided items only (reference)
    assert m.strict_accuracy == pytest.approx(2 / 5)
    assert m.domains["general"].accuracy is None
    assert m.macro_accuracy == pytest.approx((0.5 + 1.0) / 2)  # domains with decided items
    assert (m.calls, m.parse_failures, m.parse_failure_rate) == (15, 5, pytest.approx(5 / 15))
    # swapped pairs: h1 (a,b),(b,a): 2 same; r1: (b,no): chosen 0 vs 1 -> 2 pairs, 0 same;
    # g1: (a, no) same order: none
    assert (m.consistent_pairs, m.swapped_pairs) == (2, 4)
    single = m.single
    assert (single.agree, single.reject, single.unparsable) == (3, 1, 1)
    assert m.as_json()["overall"]["ci95"] == list(wilson(2, 3))


def test_orders_are_random_fair_and_reproducible() -> None:
    orders = [shown_order(7, f"item-{i}", r) for i in range(400) for r in range(5)]
    assert orders == [shown_order(7, f"item-{i}", r) for i in range(400) for r in range(5)]
    n, k = len(orders), orders.count((0, 1))
    # two-sided binomial test at 1e-4: a fair coin passes, a biased one does not
    tail = sum(comb(n, j) for j in range(0, min(k, n - k) + 1)) / 2 ** n
    assert 2 * tail > 1e-4, k
    # independent across repetitions of one item and across seeds
    per_item = Counter(tuple(shown_order(7, f"item-{i}", r) for r in range(5))
                       for i in range(400))
    assert len(per_item) > 20
    assert orders != [shown_order(8, f"item-{i}", r) for i in range(400) for r in range(5)]


@pytest.mark.parametrize(("item_id", "image_path", "domain"), [
    ("RLAIF-V-14", None, "hallucination"), ("povid_12", None, "hallucination"),
    ("RLHF-V-3", None, "hallucination"), ("mathverse_1", None, "reasoning"),
    ("mmmu_pro_3", None, "reasoning"), ("wildvision-battle-2", None, "general"),
    ("LRVInstruction-000000007746", "images/vlfeedback/LRVInstruction-7746.jpg", "general"),
    ("anything", "images/povid/a.jpg", "hallucination"),
    ("anything", "images/reasoning_tasks/a.jpg", "reasoning"),
    ("RLAIF-V-povid", "images/vlfeedback/a.jpg", "general"),  # the folder decides
    ("vlm-arena-1", None, "general"), ("povidence-7", None, "general"),
])
def test_domain_mapping(item_id: str, image_path: str | None, domain: str) -> None:
    assert domain_of(source_of(item_id, image_path)) == domain


def test_item_rejects_a_ranking_that_is_not_a_permutation() -> None:
    with pytest.raises(ValueError, match="human_ranking"):
        item(ranking=(0, 0))
