"""The pair rule on hand-made ratings, through the path the job takes: a judge output in the
template's format, parsed strictly, to pairs with model names, scores and controls; and
human pairs from hand-made voted battles (ties, both-bad and uncountable votes skipped)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from app.feedback.pairs import (
    FeedbackItem,
    ai_pairs,
    human_pairs,
    parse_weights,
    summarise,
)
from app.judges import ASPECTS, ParseFailure, Ratings, parse_ratings
from app.leaderboard.records import TurnRecord, VotedBattle

MODELS = ("m-a", "m-b", "m-c", "m-d")
ANSWERS = ("A red circle.", "It is a red circle at the top left.", "Red.", "Blue square.")


def judge_output(rows: list[tuple[int, int, int]]) -> str:
    """What a judge writes: per aspect, per text, Rating and Rationale."""
    lines = []
    for k, aspect in enumerate(ASPECTS):
        lines.append(f"## {aspect}")
        for n, row in enumerate(rows, 1):
            lines += [f"### Output for Text {n}", f"Rating: {row[k]}",
                      f"Rationale: text {n} on {aspect.lower()}."]
    return "\n".join(lines)


def item(rows: list[tuple[int, int, int]], judge: str = "judge-x") -> FeedbackItem:
    parsed = parse_ratings(judge_output(rows), len(rows))
    assert isinstance(parsed, Ratings), parsed
    return FeedbackItem(id="p1", prompt="What is at the top left?", image_sha256="0" * 64,
                        models=MODELS[:len(rows)], answers=ANSWERS[:len(rows)], judge=judge,
                        ratings=parsed)


# means: a 5, b 4, c 4 (tie with b), d 2
HAND = [(5, 5, 5), (4, 4, 4), (4, 5, 3), (1, 2, 3)]


def pairs_of(records: list) -> list[tuple[str, str]]:
    return [(p.chosen_model, p.rejected_model) for p in records]


def test_all_pairs_higher_mean_chosen_exact_ties_dropped() -> None:
    got = ai_pairs(item(HAND))
    assert pairs_of(got) == [("m-a", "m-b"), ("m-a", "m-c"), ("m-a", "m-d"), ("m-b", "m-d"),
                             ("m-c", "m-d")]  # m-b vs m-c: 4 = 4, dropped
    first = got[0]
    assert (first.chosen_score, first.rejected_score) == (5.0, 4.0)
    assert first.chosen == ANSWERS[0] and first.rejected == ANSWERS[1]
    assert first.source == "ai" and first.judge == "judge-x" and first.id == "p1:0>1"
    assert all(p.image_sha256 == "0" * 64 and p.prompt == "What is at the top left?"
               for p in got)


def test_margin_keeps_only_larger_differences() -> None:
    # differences: a-b 1, a-c 1, a-d 3, b-d 2, c-d 2
    assert pairs_of(ai_pairs(item(HAND), margin=1.0)) == [("m-a", "m-d"), ("m-b", "m-d"),
                                                          ("m-c", "m-d")]
    assert pairs_of(ai_pairs(item(HAND), margin=2.0)) == [("m-a", "m-d")]
    assert ai_pairs(item(HAND), margin=3.0) == []


def test_weights_change_the_choice() -> None:
    # visual faithfulness only: a 5, b 4, c 5, d 2 -> a=c is a tie, c now beats b
    w = parse_weights("h=0, visual faithfulness=1, Ethical Considerations=0")
    assert w == {"Helpfulness": 0.0, "Visual Faithfulness": 1.0, "Ethical Considerations": 0.0}
    got = ai_pairs(item(HAND), weights=w)
    assert pairs_of(got) == [("m-a", "m-b"), ("m-a", "m-d"), ("m-c", "m-b"), ("m-b", "m-d"),
                             ("m-c", "m-d")]
    assert got[2].chosen_score == 5.0 and got[2].rejected_score == 4.0
    # helpfulness twice as much: a 5, b 4, c (8+5+3)/4 = 4 (still a tie with b), d 1.75
    w2 = parse_weights("h=2,v=1,e=1")
    assert pairs_of(ai_pairs(item(HAND), weights=w2)) == pairs_of(ai_pairs(item(HAND)))
    for bad in ("h=1,v=1", "h=1,v=1,e=x", "h=1,v=1,e=1,h=2", "q=1,v=1,e=1", "h1,v=1,e=1"):
        with pytest.raises(ValueError, match="weights"):
            parse_weights(bad)
    assert parse_weights(None) is None and parse_weights(" ") is None


def test_controls_longest_and_self_rating() -> None:
    got = {(p.chosen_model, p.rejected_model): p for p in ai_pairs(item(HAND, judge="m-b"))}
    # "A red circle." (13) vs "It is a red circle at the top left." (35): a not longer
    assert got[("m-a", "m-b")].chosen_is_longest is False
    assert got[("m-b", "m-d")].chosen_is_longest is True
    assert got[("m-c", "m-d")].chosen_is_longest is False  # "Red." < "Blue square."
    assert got[("m-a", "m-b")].judge_rates_itself and got[("m-b", "m-d")].judge_rates_itself
    assert not got[("m-a", "m-c")].judge_rates_itself
    s = summarise([item(HAND, judge="m-b")], list(got.values()))
    assert (s.pairs, s.judge_rates_itself, s.parsed, s.failures) == (5, 2, 1, 0)


def test_an_unparsed_item_gives_no_pair_and_is_counted() -> None:
    bad = parse_ratings("Rating: 5", 2)
    assert isinstance(bad, ParseFailure)
    failed = FeedbackItem(id="p2", prompt="q", image_sha256="1" * 64, models=MODELS[:2],
                          answers=ANSWERS[:2], judge="j", failure=str(bad))
    assert ai_pairs(failed) == []
    assert summarise([failed, item(HAND)], ai_pairs(item(HAND))).failures == 1
    with pytest.raises(ValueError, match="models for"):
        FeedbackItem(id="x", prompt="q", image_sha256="1" * 64, models=MODELS[:3],
                     answers=ANSWERS[:2], judge="j")


def battle(winner: str, **kw: object) -> VotedBattle:
    turns = kw.pop("turns", (TurnRecord("What colour?", "Red.", "A blue one.", "done", "done",
                                        2, 3),))
    base = dict(battle_id=uuid.uuid4(), visitor_id=uuid.uuid4(), mode="anonymous",
                model_a="m-a", model_b="m-b", winner=winner, vote_anonymous=True,
                voted_at=datetime(2026, 12, 1, tzinfo=UTC), ip_hash="0" * 64, language="en",
                categories=(), review_status="none", image_sha256="2" * 64, removed=False,
                visitor_banned=False, vote_excluded=False, turns=turns)
    base.update(kw)
    return VotedBattle(**base)  # type: ignore[arg-type]


def test_human_pairs_from_decisive_votes_only() -> None:
    t = TurnRecord("What colour?", "Red.", "A blue one.", "done", "done", 2, 3)
    unfinished = TurnRecord("What colour?", "Red.", "", "done", "failed", 2, None)
    battles = [
        battle("model_a"), battle("model_b"), battle("tie"), battle("tie (bothbad)"),
        battle("model_a", vote_excluded=True), battle("model_b", removed=True),
        battle("model_a", deleted=True), battle("model_a", visitor_banned=True),
        battle("model_a", turns=(t, t)), battle("model_a", turns=(unfinished,)),
        battle("model_b", image_sha256=None),
    ]
    pairs, skipped = human_pairs(battles)
    assert [(p.chosen_model, p.rejected_model, p.chosen, p.rejected) for p in pairs] == [
        ("m-a", "m-b", "Red.", "A blue one."), ("m-b", "m-a", "A blue one.", "Red.")]
    assert all(p.source == "human" and p.judge is None and p.chosen_score is None
               and not p.judge_rates_itself for p in pairs)
    assert [p.chosen_is_longest for p in pairs] == [False, True]
    assert pairs[0].id == f"battle:{battles[0].battle_id}"
    assert dict(skipped) == {"tie": 1, "both-bad": 1, "excluded": 1, "removed": 1,
                             "deleted": 1, "banned-visitor": 1, "multi-turn": 1,
                             "unfinished": 1, "no-image": 1}
