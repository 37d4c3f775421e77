"""Strict parsers: good outputs, garbage, ambiguity and out-of-range values."""

from __future__ import annotations

import pytest

from app.judges import (
    ASPECTS,
    Decision,
    ParseFailure,
    Ratings,
    RewardChoice,
    TeacherReply,
    Verdict,
    parse,
    parse_decision,
    parse_pairwise,
    parse_ratings,
    parse_reward,
    parse_teacher,
)

GARBAGE = ["", "   ", "I cannot judge this.", "\x00\x01", "[[", "<decision>"]


def failure(result: object, needle: str = "") -> ParseFailure:
    assert isinstance(result, ParseFailure), result
    assert needle.lower() in result.reason.lower(), result.reason
    return result


# ------------------------------------------------------------------ pairwise verdict

@pytest.mark.parametrize("label", [v.value for v in Verdict])
def test_pairwise_each_label(label: str) -> None:
    text = (f"My own answer: a red square.\nA is wrong about the colour.\n"
            f"My final verdict: [[{label}]]")
    assert parse_pairwise(text) is Verdict(label)
    assert parse_pairwise(f"[[{label}]]") is Verdict(label)  # the short form's whole output


def test_pairwise_repeated_same_verdict_is_fine() -> None:
    assert parse_pairwise("[[A>B]] ... so again: [[A>B]]") is Verdict.A_BETTER


@pytest.mark.parametrize("text", GARBAGE + ["A>B", "[A>B]", "[[ A>B ]]", "verdict: A is better"])
def test_pairwise_garbage(text: str) -> None:
    failure(parse_pairwise(text), "no [[")


def test_pairwise_distinct_verdicts_are_ambiguous() -> None:
    r = failure(parse_pairwise("Choices: [[A>B]] or [[B>A]]. Final: [[B>A]]"), "ambiguous")
    assert "[[A>B]]" in r.reason and "[[B>A]]" in r.reason


@pytest.mark.parametrize("label", ["A<B", "B>>>A", "AB", "A==B", "B=A", "A>>>B"])
def test_pairwise_unknown_labels(label: str) -> None:
    failure(parse_pairwise(f"final verdict [[{label}]]"), "unknown verdict")


# ------------------------------------------------------------------ category decision

@pytest.mark.parametrize(("text", "yes"), [
    ("<decision>yes</decision>", True),
    ("<decision>no</decision>", False),
    ("Reasoning first.\n<decision>\nYes\n</decision>", True),
    ("<DECISION> NO </DECISION>", False),
    ("<decision>no</decision> and <decision>no</decision>", False),
])
def test_decision_good(text: str, yes: bool) -> None:
    result = parse_decision(text)
    assert isinstance(result, Decision) and result.yes is yes


@pytest.mark.parametrize("text", GARBAGE + ["yes", "decision: yes", "<decision>yes"])
def test_decision_garbage(text: str) -> None:
    failure(parse_decision(text), "no <decision>")


@pytest.mark.parametrize("value", ["maybe", "yes.", "y", "", "[yes]", "yes no"])
def test_decision_not_yes_or_no(value: str) -> None:
    failure(parse_decision(f"<decision>{value}</decision>"), "yes or no")


def test_decision_ambiguous() -> None:
    failure(parse_decision("<decision>yes</decision><decision>no</decision>"), "ambiguous")


# ------------------------------------------------------------------ VLFeedback ratings

def ratings_text(rows: list[list[int | str]], style: str = "full") -> str:
    """An output in the template's format; ``rows[answer][aspect]``."""
    lines = []
    for k, aspect in enumerate(ASPECTS):
        lines.append(f"## {aspect}" if style == "full" else aspect)
        for n, row in enumerate(rows, 1):
            lines.append(f"### Output for Text {n}" if style == "full" else f"Text {n}")
            lines.append(f"Rating: {row[k]}")
            lines.append(f"Rationale: reason {n} {k}")
    return "\n".join(lines)


@pytest.mark.parametrize("style", ["full", "short"])
def test_ratings_good(style: str) -> None:
    rows: list[list[int | str]] = [[4, 5, 5], [2, 1, 5], [3, 3, 4]]
    result = parse_ratings(ratings_text(rows, style), 3)
    assert isinstance(result, Ratings)
    assert result.matrix() == ((4, 5, 5), (2, 1, 5), (3, 3, 4))
    assert result.rating(2, "Visual Faithfulness") == 1
    assert result.answers[0]["Helpfulness"].rationale == "reason 1 0"


def test_ratings_markdown_variants_and_multiline_rationale() -> None:
    text = """**Helpfulness**
#### Text 1:
**Rating:** 4 - Highly informative
**Rationale:** Names the shape.
It also gives the colour.
### Visual Faithfulness Assessment
Answer 1
- Rating: [5]
- Rationale:
## Ethical Considerations:
Output for text 1
Rating: 5/5
Rationale: fine"""
    result = parse_ratings(text, 1)
    assert isinstance(result, Ratings), result
    assert result.matrix() == ((4, 5, 5),)
    rationale = result.answers[0]["Helpfulness"].rationale
    assert rationale == "Names the shape. It also gives the colour."
    assert result.answers[0]["Visual Faithfulness"].rationale == ""


@pytest.mark.parametrize("text", GARBAGE + ["Rating: 4\nRationale: ok", "All answers are 5/5."])
def test_ratings_garbage(text: str) -> None:
    failure(parse_ratings(text, 2), "missing")


def test_ratings_missing_lists_every_gap() -> None:
    text = ratings_text([[4, 4, 4], [3, 3, 3]])
    text = text.replace("### Output for Text 2\nRating: 3\nRationale: reason 2 1\n", "")
    text = text.replace("Rationale: reason 1 2", "")
    r = failure(parse_ratings(text, 2))
    assert "Visual Faithfulness / text 2: rating missing" in r.reason
    assert "Visual Faithfulness / text 2: rationale missing" in r.reason
    assert "Ethical Considerations / text 1: rationale missing" in r.reason
    assert "Helpfulness" not in r.reason


def test_ratings_missing_answer() -> None:
    r = failure(parse_ratings(ratings_text([[4, 4, 4], [3, 3, 3]]), 3))
    for aspect in ASPECTS:
        assert f"{aspect} / text 3: rating missing" in r.reason


@pytest.mark.parametrize(("value", "needle"), [
    (0, "outside 1-5"), (6, "outside 1-5"), ("4.5", "not an integer"), ("N/A", "not an integer"),
    ("four", "not an integer"), ("-1", "not an integer"), ("4/10", "scale"),
])
def test_ratings_out_of_range_or_not_integer(value: int | str, needle: str) -> None:
    r = failure(parse_ratings(ratings_text([[4, value, 4]]), 1), needle)
    assert "Visual Faithfulness / text 1" in r.reason
    assert "rating missing" not in r.reason  # reported once, as wrong, not also as missing


def test_ratings_answer_out_of_range_and_duplicates() -> None:
    failure(parse_ratings(ratings_text([[4, 4, 4], [3, 3, 3]]), 1), "out of range")
    doubled = ratings_text([[4, 4, 4]]) + "\n## Helpfulness\n### Output for Text 1\nRating: 2"
    failure(parse_ratings(doubled, 1), "given twice")
    failure(parse_ratings("Text 1\nRating: 3\nRationale: x", 1), "before any aspect")
    with pytest.raises(ValueError):
        parse_ratings("", 0)


# ------------------------------------------------------------------ VL-RewardBench

@pytest.mark.parametrize(("text", "better"), [
    ("Reasoning...\nOverall Judgment: Answer 1 is better", 1),
    ("Overall Judgment: Answer 2 is better.", 2),
    ("**Overall Judgment:** Answer 2 is better", 2),
    ("overall judgement: answer 1 is better", 1),
    ("Overall Judgment: Answer 1 is better\nOverall Judgment: Answer 1 is better", 1),
])
def test_reward_good(text: str, better: int) -> None:
    assert parse_reward(text) == RewardChoice(better)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", GARBAGE + [
    "Answer 1 is better", "Overall Judgment: Answer X is better",
    "Overall Judgment: both are fine"])
def test_reward_garbage(text: str) -> None:
    failure(parse_reward(text), "no 'overall judgment")


def test_reward_ambiguous_and_out_of_range() -> None:
    failure(parse_reward("Overall Judgment: Answer 1 is better. Overall Judgment: Answer 2 is "
                         "better"), "ambiguous")
    failure(parse_reward("Overall Judgment: Answer 3 is better"), "not 1 or 2")


# ------------------------------------------------------------------ FIRE teacher

@pytest.mark.parametrize(("text", "score", "feedback"), [
    ("Score: 3\nFeedback: Count the shapes again.", 3, "Count the shapes again."),
    ("Score: 10\nFeedback: Correct.", 10, "Correct."),
    ("**Score:** 7/10\n**Feedback:** Look left.\nThen compare sizes.", 7,
     "Look left. Then compare sizes."),
    ("Feedback: Look at the top row.\nScore: 1", 1, "Look at the top row."),
    ("Score: 1\nFeedback: a\nScore: 1", 1, "a"),
])
def test_teacher_good(text: str, score: int, feedback: str) -> None:
    assert parse_teacher(text) == TeacherReply(score, feedback)


@pytest.mark.parametrize("text", GARBAGE + ["Feedback: look again", "7\nlook again"])
def test_teacher_garbage(text: str) -> None:
    failure(parse_teacher(text), "no 'score")


@pytest.mark.parametrize(("text", "needle"), [
    ("Score: 0\nFeedback: no", "score 0"),
    ("Score: 11\nFeedback: x", "outside 0-10"),
    ("Score: 7.5\nFeedback: x", "not an integer"),
    ("Score: seven\nFeedback: x", "not an integer"),
    ("Score: 4/5\nFeedback: x", "scale"),
    ("Score: 3\nFeedback: x\nScore: 4", "ambiguous"),
    ("Score: 3", "no feedback"),
    ("Score: 3\nFeedback:   ", "no feedback"),
    ("Score: 3\nFeedback: a\nFeedback: b", "more than once"),
])
def test_teacher_failures(text: str, needle: str) -> None:
    failure(parse_teacher(text), needle)


# ------------------------------------------------------------------ registry

def test_parse_dispatches_by_name_with_inputs() -> None:
    assert parse("arena-hard-verdict", "[[A=B]]", {}) is Verdict.TIE
    assert isinstance(parse("vlfeedback-ratings", ratings_text([[1, 2, 3]]), {"answers": ["x"]}),
                      Ratings)
    with pytest.raises(ValueError, match="unknown parser"):
        parse("nope", "", {})
