"""Typed parse results of judge outputs, and the one failure type.

Parsers never guess: they return one of these results or a ``ParseFailure`` with a reason,
which the runner stores as such (and may retry) instead of turning it into a verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

ASPECTS: tuple[str, ...] = ("Helpfulness", "Visual Faithfulness", "Ethical Considerations")


class Verdict(StrEnum):
    """Arena-Hard's five pairwise labels, from assistant A's point of view."""

    A_MUCH_BETTER = "A>>B"
    A_BETTER = "A>B"
    TIE = "A=B"
    B_BETTER = "B>A"
    B_MUCH_BETTER = "B>>A"


@dataclass(frozen=True)
class ParseFailure:
    """A judge output that does not follow its template's format; ``reason`` says how."""

    parser: str
    reason: str

    def __str__(self) -> str:
        return f"{self.parser}: {self.reason}"


@dataclass(frozen=True)
class Decision:
    """A category classifier's yes/no answer."""

    answer: Literal["yes", "no"]

    @property
    def yes(self) -> bool:
        return self.answer == "yes"


@dataclass(frozen=True)
class AspectRating:
    rating: int
    rationale: str


@dataclass(frozen=True)
class Ratings:
    """VLFeedback ratings: ``answers[i][aspect]`` for answer ``i + 1`` (every aspect present)."""

    answers: tuple[Mapping[str, AspectRating], ...]

    def rating(self, answer: int, aspect: str) -> int:
        """Rating of 1-based ``answer`` on ``aspect``."""
        return self.answers[answer - 1][aspect].rating

    def matrix(self) -> tuple[tuple[int, ...], ...]:
        """Ratings as answers x ``ASPECTS``."""
        return tuple(tuple(a[aspect].rating for aspect in ASPECTS) for a in self.answers)


@dataclass(frozen=True)
class RewardChoice:
    """VL-RewardBench judgment: which displayed answer (1 or 2) the judge prefers."""

    better: Literal[1, 2]


@dataclass(frozen=True)
class TeacherReply:
    """FIRE teacher: score 1-10 and feedback text (a score of 0 is a failure, not a reply)."""

    score: int
    feedback: str


@dataclass(frozen=True)
class Answer:
    """A candidate model's free-text answer to a bench question (kind ``answer``): there is
    no format to check, so every output is an answer (surrounding whitespace dropped)."""

    text: str


ParseResult = (Verdict | Decision | Ratings | RewardChoice | TeacherReply | Answer
               | ParseFailure)
