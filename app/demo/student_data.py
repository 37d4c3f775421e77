"""Refinement dialogues for the demo's feedback-trained student (issue 11).

Why: FIRE trains a student on dialogues where a teacher's feedback points at the error and
the next answer fixes it. Here the truth is the shapes checker's and the feedback is what
the demo teacher (models/demo/shapes-judge, template fire-teacher@1) is trained to say for
that mistake (`app.demo.judge_data.teacher_target`, parsed as the FIRE loop parses it:
the student never sees the teacher's check line). Wrong first answers are made by
`app.demo.judge_answers.answer_with`, in the styles the judge is trained on.

Dialogue mix (fractions of `make_dialogues`):
- plain: no history, the reference answer (so that turn-0 accuracy does not drop);
- one refinement: a wrong (or, for descriptions, nearly right) answer, the teacher's
  feedback, the reference answer;
- two refinements: two different wrong answers, each with its feedback, then the reference;
- uninformative: a right or a wrong first answer (one in two), feedback that says nothing
  ("Check your answer."), then the reference answer. The feedback does not depend on
  whether the answer was right, so it carries no information and the best next answer is
  the one the image supports. The phrases differ from the evaluation's control phrase
  (`CONTROL_FEEDBACK`), which the student never sees in training.
- stage 2 (`uninformative_after="right"`): uninformative feedback only after right
  answers, whose best reply is the same answer again. Stage 1 alone taught the student
  to answer again after any feedback and often fix a wrong answer without being told what
  was wrong (its gain with "Try again." was nearly its gain with the teacher's feedback);
  stage 2 teaches that feedback that names nothing is no reason to change an answer, so
  that what it fixes is what the feedback points at. Targets are always the right answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from app.demo.judge_answers import answer_key, answer_with, grade
from app.demo.judge_data import teacher_target
from app.demo.questions import Question, make_question, reference_answer
from app.demo.shapes import Scene, random_scene
from app.fire.dialogue import CONTROL_FEEDBACK  # the evaluation's control: never in training
from app.judges.parsers import parse_teacher
from app.judges.results import TeacherReply

UNINFORMATIVE = ("Check your answer.", "Please answer again.", "Look at the image and answer.")
__all__ = ["CONTROL_FEEDBACK", "UNINFORMATIVE", "Dialogue", "make_dialogues", "teacher_feedback"]
MIX = {"plain": 0.35, "one": 0.37, "two": 0.13, "uninformative": 0.15}


@dataclass(frozen=True)
class Dialogue:
    """One training conversation: the question about a scene, then answer/feedback turns
    (`history`), then the answer the student learns to give (`target`)."""

    scene_seed: int
    question: Question
    history: tuple[str, ...]
    target: str
    mix: str


def teacher_feedback(question: Question, scene: Scene, answer: str) -> str:
    """The feedback the demo teacher is trained to give on `answer` (parsed, as the student
    gets it)."""
    g = grade(question, scene, answer)
    target = teacher_target(g, answer_key(question, answer),
                            answer_key(question, reference_answer(question, scene)))
    reply = parse_teacher(target)
    assert isinstance(reply, TeacherReply), reply
    return reply.feedback


def _wrong(question: Question, scene: Scene, rng: random.Random, avoid: set[str]) -> str | None:
    level = "partly" if question.kind == "describe" and rng.random() < 0.35 else "wrong"
    for _ in range(10):
        made = answer_with(question, scene, rng, level) or answer_with(question, scene, rng,
                                                                       "wrong")
        if made is not None and answer_key(question, made[0]) not in avoid:
            return made[0]
    return None


def make_dialogue(scene_seed: int, rng: random.Random, uninformative_after: str = "any"
                  ) -> Dialogue:
    scene = random_scene(scene_seed)
    question = make_question(scene, rng)
    truth = reference_answer(question, scene)
    mix = rng.choices(list(MIX), weights=list(MIX.values()))[0]
    history: list[str] = []
    if mix in ("one", "two"):
        avoid = {answer_key(question, truth)}
        for _ in range(1 if mix == "one" else 2):
            answer = _wrong(question, scene, rng, avoid)
            if answer is None:
                break
            avoid.add(answer_key(question, answer))
            history += [answer, teacher_feedback(question, scene, answer)]
    elif mix == "uninformative":
        right = uninformative_after == "right" or rng.random() < 0.5
        made = answer_with(question, scene, rng, "right") if right else None
        first = made[0] if made else _wrong(question, scene, rng, {answer_key(question, truth)})
        if first is not None:
            history += [first, rng.choice(UNINFORMATIVE)]
    return Dialogue(scene_seed, question, tuple(history), truth, mix if history else "plain")


def make_dialogues(seeds: range, count: int, seed: int, uninformative_after: str = "any"
                   ) -> list[Dialogue]:
    """`count` dialogues on scenes drawn reproducibly from `seeds`; `uninformative_after`
    "right" gives uninformative feedback only after right answers (stage 2, see the
    module's docstring)."""
    rng = random.Random(f"student:{seed}")
    return [make_dialogue(s, rng, uninformative_after) for s in rng.sample(seeds, count)]
