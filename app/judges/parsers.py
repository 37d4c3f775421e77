"""Strict parsers, one per template kind: a typed result or a ``ParseFailure``, never a guess.

Shared rules: a label that appears several times must say the same thing every time
(distinct labels are ambiguous, so a failure, as Arena-Hard's ``get_score`` does); text
around the label (reasoning, the judge's own answer) is ignored; numbers must be integers
in range, written as digits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Literal, cast

from app.judges.results import (
    ASPECTS,
    Answer,
    AspectRating,
    Decision,
    ParseFailure,
    ParseResult,
    Ratings,
    RewardChoice,
    TeacherReply,
    Verdict,
)

PAIRWISE = "arena-hard-verdict"
DECISION = "decision"
RATINGS = "vlfeedback-ratings"
REWARD = "vlrewardbench-judgment"
TEACHER = "fire-teacher"
TEXT = "text"

# Arena-Hard's own pattern; any captured label outside the five is a failure.
_VERDICT_RE = re.compile(r"\[\[([AB<>=]+)\]\]")
_DECISION_RE = re.compile(r"<decision>(.*?)</decision>", re.IGNORECASE | re.DOTALL)
_REWARD_RE = re.compile(
    r"overall\s+judge?ment\W*?:\W*answer\s*(\d+)\s+is\s+better", re.IGNORECASE)
_INT_RE = re.compile(r"\[?\s*(\d+)\s*\]?(?:\s*/\s*(\d+))?(?![\d.,]\d)")


def parse_pairwise(text: str) -> Verdict | ParseFailure:
    """The ``[[A>B]]``-style verdict; it may repeat, but two distinct verdicts fail."""
    found = list(dict.fromkeys(_VERDICT_RE.findall(text)))
    if not found:
        return ParseFailure(PAIRWISE, "no [[...]] verdict")
    if len(found) > 1:
        return ParseFailure(PAIRWISE, "ambiguous: distinct verdicts "
                            + ", ".join(f"[[{v}]]" for v in found))
    try:
        return Verdict(found[0])
    except ValueError:
        return ParseFailure(PAIRWISE, f"unknown verdict [[{found[0]}]]")


def parse_decision(text: str) -> Decision | ParseFailure:
    """``<decision>yes</decision>`` or ``no`` (case and surrounding whitespace ignored)."""
    values = [v.strip().lower() for v in _DECISION_RE.findall(text)]
    if not values:
        return ParseFailure(DECISION, "no <decision>...</decision>")
    bad = [v for v in values if v not in ("yes", "no")]
    if bad:
        return ParseFailure(DECISION, f"decision must be yes or no, got {bad[0]!r}")
    if len(set(values)) > 1:
        return ParseFailure(DECISION, "ambiguous: both yes and no")
    return Decision(cast(Literal["yes", "no"], values[0]))


def parse_reward(text: str) -> RewardChoice | ParseFailure:
    """"Overall Judgment: Answer 1/2 is better"; repeats must agree."""
    found = list(dict.fromkeys(int(n) for n in _REWARD_RE.findall(text)))
    if not found:
        return ParseFailure(REWARD, "no 'Overall Judgment: Answer N is better'")
    if len(found) > 1:
        return ParseFailure(REWARD, f"ambiguous: answers {found} judged better")
    if found[0] not in (1, 2):
        return ParseFailure(REWARD, f"answer {found[0]} is not 1 or 2")
    return RewardChoice(cast(Literal[1, 2], found[0]))


def _integer(value: str, low: int, high: int) -> int | str:
    """The integer at the start of ``value`` (``4``, ``[4]``, ``4/5``) or why it is not one."""
    m = _INT_RE.match(value.strip())
    if m is None:
        return f"not an integer: {value.strip()[:20]!r}"
    if m.group(2) is not None and int(m.group(2)) != high:
        return f"unexpected scale {m.group(0)!r}"
    n = int(m.group(1))
    if not low <= n <= high:
        return f"{n} is outside {low}-{high}"
    return n


_KEY_RE = re.compile(r"^(rating|rationale|score|feedback)\s*:\s*(.*)$", re.IGNORECASE)
_ASPECT_RE = re.compile(
    r"^(helpfulness|visual faithfulness|ethical considerations)(?:\s+assessment)?:?$",
    re.IGNORECASE)
_ANSWER_RE = re.compile(r"^(?:output\s+for\s+)?(?:text|answer)\s*(\d+):?$", re.IGNORECASE)


def _bare(line: str) -> str:
    """A line without markdown decoration (``###``, ``**``, list dashes)."""
    line = re.sub(r"^[\s#>*_\-]+", "", line)
    line = re.sub(r"[\s*_]+$", "", line)
    line = re.sub(r"^([^:]*?)[\s*_]*:[\s*_]*", r"\1: ", line)  # "**Rating:** 4" -> "Rating: 4"
    return line.strip()


def parse_ratings(text: str, n_answers: int) -> Ratings | ParseFailure:
    """VLFeedback ratings: an aspect header, then per answer a ``Text N`` header, ``Rating:``
    (integer 1-5) and ``Rationale:`` (may be empty). Every aspect of every answer must be
    there exactly once; the failure lists everything missing or wrong."""
    if n_answers < 1:
        raise ValueError("n_answers must be at least 1")
    canon = {a.lower(): a for a in ASPECTS}
    ratings: dict[tuple[str, int], int] = {}
    rationales: dict[tuple[str, int], list[str]] = {}
    bad: set[tuple[str, int]] = set()  # rating present but wrong: not also "missing"
    problems: list[str] = []
    aspect: str | None = None
    answer: int | None = None
    in_rationale: tuple[str, int] | None = None
    for raw in text.splitlines():
        line = _bare(raw)
        if (m := _ASPECT_RE.match(line)) is not None:
            aspect, answer, in_rationale = canon[m.group(1).lower()], None, None
        elif (m := _ANSWER_RE.match(line)) is not None:
            answer, in_rationale = int(m.group(1)), None
            if aspect is None:
                problems.append(f"text {answer} appears before any aspect header")
            elif not 1 <= answer <= n_answers:
                problems.append(f"text {answer} is out of range (1-{n_answers})")
        elif (m := _KEY_RE.match(line)) is not None and m.group(1).lower() in ("rating",
                                                                               "rationale"):
            in_rationale = None
            if aspect is None or answer is None or not 1 <= answer <= n_answers:
                problems.append(f"{m.group(1)} outside an aspect/text section")
                continue
            key = (aspect, answer)
            where = f"{aspect} / text {answer}"
            if m.group(1).lower() == "rating":
                value = _integer(m.group(2), 1, 5)
                if key in ratings or key in bad:
                    problems.append(f"{where}: rating given twice")
                elif isinstance(value, str):
                    problems.append(f"{where}: rating {value}")
                    bad.add(key)
                else:
                    ratings[key] = value
            elif key in rationales:
                problems.append(f"{where}: rationale given twice")
            else:
                rationales[key] = [m.group(2).strip()]
                in_rationale = key
        elif in_rationale is not None and line:
            rationales[in_rationale].append(raw.strip())
    for aspect_name in ASPECTS:
        for n in range(1, n_answers + 1):
            key, where = (aspect_name, n), f"{aspect_name} / text {n}"
            if key not in ratings and key not in bad:
                problems.append(f"{where}: rating missing")
            if key not in rationales:
                problems.append(f"{where}: rationale missing")
    if problems:
        return ParseFailure(RATINGS, "; ".join(problems))
    return Ratings(tuple(
        {a: AspectRating(ratings[(a, n)], " ".join(rationales[(a, n)]).strip()) for a in ASPECTS}
        for n in range(1, n_answers + 1)))


def parse_teacher(text: str) -> TeacherReply | ParseFailure:
    """FIRE teacher: ``Score: <1-10>`` and ``Feedback: <text>`` (non-empty; may span lines).
    A score of 0 ends the dialogue as a failure, so it is one here."""
    scores: list[int] = []
    feedback: list[str] | None = None
    n_feedback = 0
    for raw in text.splitlines():
        m = _KEY_RE.match(_bare(raw))
        key = m.group(1).lower() if m else None
        if m is not None and key == "score":
            value = _integer(m.group(2), 0, 10)
            if isinstance(value, str):
                return ParseFailure(TEACHER, f"score {value}")
            scores.append(value)
        elif m is not None and key == "feedback":
            n_feedback += 1
            feedback = [m.group(2).strip()]
        elif feedback is not None and raw.strip():
            feedback.append(raw.strip())
    if not scores:
        return ParseFailure(TEACHER, "no 'Score: N'")
    if len(set(scores)) > 1:
        return ParseFailure(TEACHER, f"ambiguous: scores {sorted(set(scores))}")
    if scores[0] == 0:
        return ParseFailure(TEACHER, "score 0")
    if n_feedback > 1:
        return ParseFailure(TEACHER, "'Feedback:' given more than once")
    body = " ".join(feedback or []).strip()
    if not body:
        return ParseFailure(TEACHER, "no feedback text")
    return TeacherReply(scores[0], body)


def parse_text(text: str) -> Answer:
    """A candidate's answer (bench ``answer@1``): any text is one, so this never fails; the
    answer is judged later, not parsed."""
    return Answer(text.strip())


Parser = Callable[[str, Mapping[str, Any]], ParseResult]

# parser name -> (template kind it serves, function of (raw output, the rendered inputs))
PARSERS: dict[str, tuple[str, Parser]] = {
    PAIRWISE: ("pairwise", lambda text, inputs: parse_pairwise(text)),
    DECISION: ("category", lambda text, inputs: parse_decision(text)),
    RATINGS: ("ratings", lambda text, inputs: parse_ratings(text, len(inputs["answers"]))),
    REWARD: ("reward-pairwise", lambda text, inputs: parse_reward(text)),
    TEACHER: ("teacher", lambda text, inputs: parse_teacher(text)),
    TEXT: ("answer", lambda text, inputs: parse_text(text)),
}


def parse(parser: str, text: str, inputs: Mapping[str, Any]) -> ParseResult:
    """Run the named parser on a raw output (``inputs``: those the prompt was rendered from)."""
    try:
        fn = PARSERS[parser][1]
    except KeyError:
        raise ValueError(f"unknown parser {parser!r}; known: {sorted(PARSERS)}") from None
    return fn(text, inputs)
