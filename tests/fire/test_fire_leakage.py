"""A FIRE teacher's feedback that reveals the ground truth's values (the colour, shape,
count, place, size or yes/no it names), in other words or as a digit/number word, is
flagged; feedback that only names the kind of mistake is not."""

from __future__ import annotations

import pytest

from app.demo.evaluate import HELD_OUT_SEEDS, examples
from app.demo.judge_answers import answer_with
from app.demo.shapes import random_scene
from app.demo.student_data import teacher_feedback
from app.fire.dialogue import teacher_verdict
from app.judges.leakage import teacher_leaks
from app.judges.results import ParseFailure, TeacherReply

CASES = [  # (question, ground truth, feedback that leaks)
    ("What colour is the shape on the left?", "The shape on the left is red.",
     "It is crimson, look again."),
    ("What colour is the shape on the left?", "The shape on the left is red.", "Red!"),
    ("What shape is at the top?", "The shape at the top is a circle.", "It is round."),
    ("What shape is at the top?", "The shape at the top is a square.", "Think of a box."),
    ("How many shapes are there?", "There are three shapes.", "Count to 3."),
    ("How many shapes are there?", "There are two shapes.", "There is a pair of them."),
    ("Where is the red star?", "The red star is in the center.", "Look at the middle."),
    ("Where is the red star?", "The red star is on the right.", "Check the right side."),
    ("Where is the red star?", "The red star is at the top.", "Look at the upper part."),
    ("Is there a blue square?", "Yes.", "It is present in the image."),
    ("Is there a blue square?", "No.", "No, look again."),
    ("Describe the image.", "A small red circle on the left.", "The little one is wrong."),
    ("What is the largest shape?", "The largest shape is the green star.",
     "The emerald one is bigger."),
]


@pytest.mark.parametrize(("question", "truth", "feedback"), CASES)
def test_values_are_flagged(question: str, truth: str, feedback: str) -> None:
    assert teacher_leaks(feedback, truth, question=question), feedback
    verdict = teacher_verdict(TeacherReply(3, feedback), question=question, ground_truth=truth)
    assert verdict.failure and verdict.failure.startswith("teacher feedback states")


@pytest.mark.parametrize(("question", "truth", "feedback"), [
    ("Where is the red star?", "The red star is on the right.", "That is not right yet."),
    ("Where is the red star?", "The red star is on the left.", "You left out the place."),
    ("Is there a red star?", "No.", "Check again whether it is there."),  # "red" is asked
    ("What colour is the shape on the left?", "The shape on the left is red.",
     "The colour is wrong. Look at that shape again."),
    ("How many shapes are there?", "There are 13 shapes.", "Count them again."),
])
def test_feedback_without_the_values_passes(question: str, truth: str, feedback: str) -> None:
    assert teacher_leaks(feedback, truth, question=question) == []


def test_the_demo_teachers_feedback_never_leaks() -> None:
    """Every mistake kind's feedback, on 300 held-out items: the phrases the demo teacher is
    trained to say never state a value of the truth."""
    import random

    rng = random.Random(0)
    checked = 0
    for e in examples(HELD_OUT_SEEDS, 300, seed=7):
        scene = random_scene(e.scene_seed)
        made = answer_with(e.question, scene, rng, "wrong")
        if made is None:
            continue
        feedback = teacher_feedback(e.question, scene, made[0])
        assert teacher_leaks(feedback, e.answer, question=e.question.text) == [], feedback
        checked += 1
    assert checked > 250


def test_unparsable_or_zero_is_a_failure() -> None:
    v = teacher_verdict(ParseFailure("fire-teacher", "score 0"), question="Q", ground_truth="x")
    assert v.score is None and v.failure == "teacher reply unusable: score 0"
