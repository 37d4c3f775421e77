"""FIRE exports: dialogues as FIRE test items, and LLaVA-style conversations.

- `fire_records`: FIRE's test-item JSON (`{id, image, raw: {question, groundtruth}}`) with
  the dialogue: `student_history` (every answer), `teacher_history` (the feedback on each),
  `scores` (the teacher's score of each answer), and how it ended.
- `student_conversations`: LLaVA `conversations` for training a student: the question with
  `<image>`, then answer / feedback turns (the feedback the student was given).
- `teacher_conversations`: one LLaVA conversation per scored answer for training a teacher:
  the teacher prompt (fire-teacher@1, full form) and its reply as `Score: N` / `Feedback:`.
Pure: rows in, JSON-ready dicts out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.fire.dialogue import CONTROL_FEEDBACK
from app.judges.templates import load_template, render

FORMATS = ("fire", "llava-student", "llava-teacher")


@dataclass(frozen=True)
class ExportTurn:
    answer: str | None
    score: int | None
    feedback: str | None


@dataclass(frozen=True)
class ExportDialogue:
    item_id: str
    image: str  # the image's file name in the export (its sha256 + extension)
    question: str
    ground_truth: str
    status: str
    failure: str | None
    turns: Sequence[ExportTurn]
    kind: str | None = None


def fire_records(dialogues: Sequence[ExportDialogue]) -> list[dict[str, Any]]:
    return [{
        "id": d.item_id, "image": d.image,
        "raw": {"question": d.question, "groundtruth": d.ground_truth},
        "student_history": [t.answer for t in d.turns if t.answer is not None],
        "teacher_history": [t.feedback for t in d.turns if t.score is not None],
        "scores": [t.score for t in d.turns if t.score is not None],
        "status": d.status, "failure": d.failure, "kind": d.kind,
    } for d in dialogues]


def student_conversations(dialogues: Sequence[ExportDialogue], feedback: str = "teacher"
                          ) -> list[dict[str, Any]]:
    """One conversation per dialogue: every answer, and between answers the feedback the
    student got (the control phrase for an uninformative-feedback run)."""
    out = []
    for d in dialogues:
        conv = [{"from": "human", "value": f"<image>\n{d.question}"}]
        for i, t in enumerate(d.turns):
            if t.answer is None:
                break
            if i:
                prev = d.turns[i - 1].feedback
                conv.append({"from": "human", "value": prev if feedback == "teacher"
                             else CONTROL_FEEDBACK})
            conv.append({"from": "gpt", "value": t.answer})
        out.append({"id": d.item_id, "image": d.image, "conversations": conv})
    return out


def teacher_conversations(dialogues: Sequence[ExportDialogue]) -> list[dict[str, Any]]:
    template = load_template("fire-teacher@1")
    out = []
    for d in dialogues:
        for i, t in enumerate(d.turns):
            if t.answer is None or t.score is None:
                continue
            prompt = render(template, {"image": b"x", "question": d.question,
                                       "ground_truth": d.ground_truth, "answer": t.answer})
            text = "\n\n".join(m.content for m in prompt.messages)
            out.append({"id": f"{d.item_id}-{i}", "image": d.image, "conversations": [
                {"from": "human", "value": f"<image>\n{text}"},
                {"from": "gpt", "value": f"Score: {t.score}\nFeedback: {t.feedback}"}]})
    return out


def export_records(dialogues: Sequence[ExportDialogue], fmt: str, feedback: str = "teacher"
                   ) -> list[dict[str, Any]]:
    if fmt == "fire":
        return fire_records(dialogues)
    if fmt == "llava-student":
        return student_conversations(dialogues, feedback)
    if fmt == "llava-teacher":
        return teacher_conversations(dialogues)
    raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
