"""The FIRE dialogue rules: what happens after each answer and each teacher reply.

A dialogue is a list of turns. Turn 0 is the student's first answer; each later turn is a
refinement after feedback. The teacher scores every answer 1-10 with feedback. The dialogue
ends when a score reaches tau (`reached`), when N refinements were made without reaching
it (`exhausted`), or as a failure (`failed`): the teacher's reply did not parse or scored
0, its feedback stated the ground truth (a teacher failure: `app.judges.leakage`), or the
student's generation failed. Pure: `app.fire.runs` stores the turns and drives the workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from app.judges.leakage import teacher_leaks
from app.judges.results import ParseFailure, TeacherReply

TAU = 8  # the released FIRE code stops at this score
MAX_TURNS = 3  # refinements after the first answer (the released code's default)
FEEDBACK_MODES = ("teacher", "uninformative")
CONTROL_FEEDBACK = "Try again."  # what the student gets in the uninformative control
Status = Literal["open", "reached", "exhausted", "failed"]


@dataclass(frozen=True)
class Turn:
    """One answer and the teacher's reply to it (None until it came)."""

    index: int
    answer: str | None = None
    score: int | None = None
    feedback: str | None = None
    failure: str | None = None  # why the dialogue failed at this turn


@dataclass(frozen=True)
class TeacherVerdict:
    score: int | None
    feedback: str | None
    failure: str | None
    leaks: tuple[str, ...] = ()


def teacher_verdict(reply: TeacherReply | ParseFailure, *, question: str,
                    ground_truth: str) -> TeacherVerdict:
    """The teacher's reply as the dialogue takes it: an unparsable reply or a score of 0
    (the parser's failure), or feedback that gives the ground truth away, is a failure."""
    if isinstance(reply, ParseFailure):
        return TeacherVerdict(None, None, f"teacher reply unusable: {reply.reason}")
    leaks = tuple(teacher_leaks(reply.feedback, ground_truth, question=question))
    if leaks:
        return TeacherVerdict(reply.score, reply.feedback,
                              f"teacher feedback states the ground truth: {', '.join(leaks)}",
                              leaks)
    return TeacherVerdict(reply.score, reply.feedback, None)


Next = Literal["student", "teacher", "done"]


def next_step(turns: Sequence[Turn], *, tau: int = TAU, max_turns: int = MAX_TURNS
              ) -> tuple[Next, Status]:
    """What the dialogue needs next, and its status."""
    if not turns:
        return "student", "open"
    last = turns[-1]
    if last.failure is not None:
        return "done", "failed"
    if last.answer is None:
        return "student", "open"
    if last.score is None:
        return "teacher", "open"
    if last.score >= tau:
        return "done", "reached"
    if last.index >= max_turns:
        return "done", "exhausted"
    return "student", "open"


def student_history(turns: Sequence[Turn], mode: str = "teacher") -> list[str]:
    """The conversation the student continues: its answers and the feedback on each
    (the control phrase instead of the teacher's feedback in the uninformative mode)."""
    if mode not in FEEDBACK_MODES:
        raise ValueError(f"feedback mode must be one of {FEEDBACK_MODES}")
    history: list[str] = []
    for t in turns:
        if t.answer is None or t.feedback is None:
            break
        history += [t.answer, t.feedback if mode == "teacher" else CONTROL_FEEDBACK]
    return history


def check_params(tau: int, max_turns: int, mode: str) -> None:
    if not (isinstance(tau, int) and 1 <= tau <= 10):
        raise ValueError(f"tau must be an integer score 1..10, not {tau!r}")
    if not (isinstance(max_turns, int) and 0 <= max_turns <= 10):
        raise ValueError(f"turns must be 0..10 refinements, not {max_turns!r}")
    if mode not in FEEDBACK_MODES:
        raise ValueError(f"feedback must be one of {FEEDBACK_MODES}, not {mode!r}")
