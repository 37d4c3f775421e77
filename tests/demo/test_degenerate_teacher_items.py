"""The FIRE teacher's training and card items for answers that do not answer: what an
untrained student says after feedback it can not use (claims nothing, answers another
question, runs claims together). Their truth is the shapes checker's, and their target is
what the fire-teacher contract says of a wrong answer: score 2 (below tau) and feedback
that names no value of the ground truth."""

from __future__ import annotations

import random

from app.demo.judge_answers import answer_key, grade
from app.demo.judge_data import (
    DEGENERATE_ANSWERS,
    DEGENERATE_KINDS,
    JUDGE_HELD_OUT_SEEDS,
    degenerate_teacher_items,
)
from app.demo.judge_eval import score_item, truth_values
from app.demo.questions import make_question
from app.demo.shapes import random_scene
from app.judges import leaks_ground_truth


def test_items_do_not_answer_are_wrong_and_their_target_scores_two_without_a_leak() -> None:
    items = degenerate_teacher_items(JUDGE_HELD_OUT_SEEDS, 120, seed=5)
    assert len(items) == 120
    assert len({i.kind for i in items}) >= 5  # every kind of question, not one
    assert {i.truth["degenerate"] for i in items} == set(DEGENERATE_KINDS)
    for item in items:
        answer = item.text_inputs["answer"]
        assert {k: item.truth[k] for k in ("score", "correct", "level")} == {
            "score": 2, "correct": False, "level": "wrong"}
        assert item.text_inputs["question"].rstrip("?").lower() not in answer.lower()
        if item.truth["degenerate"] == "nothing":
            assert answer in DEGENERATE_ANSWERS and item.truth["mistake"] == "other"
            assert item.target.startswith("Check: none vs "), item.target
        feedback = item.target.split("Feedback: ", 1)[1]
        truth = item.text_inputs["ground_truth"]
        assert not leaks_ground_truth(feedback, truth, values=truth_values(truth)), item
        # the target itself passes the evaluation as a right, exact, leak-free verdict
        scored = score_item(item, item.target)
        assert scored["parsed"] and scored["agree"] and scored["exact"], scored
        assert not scored["leak"]
        # a teacher that scores it as right (what shapes-judge mostly did) disagrees
        right = "Check: none vs x, correct.\nScore: 10\nFeedback: Correct. Nothing to fix."
        assert not score_item(item, right)["agree"]


def test_items_are_reproducible_and_the_checker_agrees() -> None:
    a = degenerate_teacher_items(JUDGE_HELD_OUT_SEEDS, 40, seed=5)
    assert a == degenerate_teacher_items(JUDGE_HELD_OUT_SEEDS, 40, seed=5)
    assert a != degenerate_teacher_items(JUDGE_HELD_OUT_SEEDS, 40, seed=6)
    for text in DEGENERATE_ANSWERS:  # none of them is ever right, whatever the scene
        for seed in range(30):
            scene = random_scene(seed)
            question = make_question(scene, random.Random(seed))
            if answer_key(question, text) == "none":
                assert not grade(question, scene, text).correct, (question.text, text)
