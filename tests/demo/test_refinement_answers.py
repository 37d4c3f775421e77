"""The students' own FIRE-style dialogue answers, on which the FIRE demo's teacher is also
trained: the dialogue goes on exactly while the checker says the answer is wrong, each
refinement saw the dialogue before it, and the teacher items carry the checker's grade."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from app.demo.evaluate import TRAIN_SEEDS
from app.demo.questions import is_correct
from app.demo.refinement_answers import (
    TRY_AGAIN,
    refinement_answers,
    student_messages,
    teacher_items,
)
from app.demo.shapes import random_scene
from tests.conftest import CPU_MODELS_HOW, require_file, require_module

DEMO = Path(__file__).resolve().parents[2] / "models" / "demo"


def test_dialogues_go_on_while_wrong_and_items_carry_the_checker_grade() -> None:
    require_module("transformers", CPU_MODELS_HOW)
    require_file(DEMO / "shapes-medium" / "config.json", "shapes-medium",
                 "train it: scripts/train_demo_models.py")
    answers = refinement_answers(DEMO / "shapes-medium", TRAIN_SEEDS, 24, seed=3, turns=2)
    by_dialogue = defaultdict(list)
    for a in answers:
        by_dialogue[(a.scene_seed, a.question.text)].append(a)
    assert len(by_dialogue) >= 20  # a repeated (scene, question) pair merges two dialogues
    for turns in by_dialogue.values():
        if len(turns) > 3:
            continue  # two dialogues on the same question
        assert [a.turn for a in turns] == list(range(len(turns)))
        right = [is_correct(a.question, random_scene(a.scene_seed), a.answer) for a in turns]
        assert not any(right[:-1])  # it stopped at the first right answer
        assert right[-1] or len(turns) == 3  # or after the last refinement
    assert any(a.turn >= 1 for a in answers)
    items = teacher_items(answers)
    assert len(items) == len(answers)
    for a, item in zip(answers, items, strict=True):
        correct = is_correct(a.question, random_scene(a.scene_seed), a.answer)
        assert item.truth["correct"] == correct and item.truth["turn"] == a.turn
        assert ("Score: 10" in item.target) == correct
        assert item.text_inputs["answer"] == a.answer


def test_the_student_prompt_carries_the_dialogue_as_its_turns() -> None:
    import random

    from app.demo.questions import make_question

    question = make_question(random_scene(1), random.Random(1))
    messages = student_messages(question, ["A red star.", TRY_AGAIN])
    texts = [(m["role"], m["content"][-1]["text"]) for m in messages]
    assert texts == [("user", question.text), ("assistant", "A red star."),
                     ("user", TRY_AGAIN)]
    assert messages[0]["content"][0] == {"type": "image"}
