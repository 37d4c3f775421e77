"""The shapes world is reproducible and its answer checker judges like a careful reader."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image

from app.demo.questions import (
    Question,
    applicable_kinds,
    is_correct,
    make_question,
    parse_question,
    reference_answer,
)
from app.demo.shapes import COLOURS, POSITIONS, Scene, Shape, random_scene, render, render_png

SCENE = Scene(
    shapes=(
        Shape("circle", "red", "left", "large"),
        Shape("star", "blue", "top", "small"),
        Shape("square", "green", "right", "small"),
    ),
    image_size=96,
    seed=4,
)


def test_same_seed_same_scene_and_pixels() -> None:
    assert random_scene(42) == random_scene(42)
    assert render_png(random_scene(42)) == render_png(random_scene(42))
    scenes = {random_scene(s) for s in range(50)}
    assert len(scenes) > 45


def test_scenes_stay_in_bounds() -> None:
    for seed in range(300):
        scene = random_scene(seed)
        assert 1 <= len(scene.shapes) <= 4
        assert 64 <= scene.image_size <= 128
        assert len({s.position for s in scene.shapes}) == len(scene.shapes)
        assert Scene.from_dict(scene.to_dict()) == scene


def test_shapes_are_drawn_in_their_colour_and_place() -> None:
    pixels = np.asarray(render(SCENE)).astype(int)
    side = SCENE.image_size
    for shape in SCENE.shapes:
        fx, fy = POSITIONS[shape.position]
        centre = pixels[int(fy * side), int(fx * side)]
        assert np.abs(centre - np.array(COLOURS[shape.colour])).max() < 10, shape
    empty = pixels[int(0.8 * side), int(0.5 * side)]  # nothing at the bottom
    assert np.abs(empty - empty[0]).max() == 0 and empty[0] < 80
    png = Image.open(io.BytesIO(render_png(SCENE)))
    assert png.size == (side, side)


@pytest.mark.parametrize(
    ("question", "right", "wrong"),
    [
        ("How many shapes are there?", ["There are three shapes.", "3"], ["There are two."]),
        (
            "What colour is the shape on the left?",
            ["The shape on the left is red.", "Red!"],
            ["It is blue.", "Red or blue."],
        ),
        (
            "What shape is at the top?",
            ["The shape at the top is a star.", "a star"],
            ["A circle.", "A star or a square."],
        ),
        ("Is there a red circle?", ["Yes.", "yes, on the left"], ["No."]),
        ("Is there a red star?", ["No."], ["Yes.", "There is a red circle."]),
        (
            "What is the largest shape?",
            ["The largest shape is the red circle.", "the big red circle"],
            ["The blue star.", "The red circle and the blue star."],
        ),
        (
            "Where is the green square?",
            ["The green square is on the right.", "right"],
            ["At the top.", "Left or right.", "The green circle is on the right."],
        ),
        (
            "Describe the image.",
            [
                "A large red circle on the left, a small blue star at the top and a small "
                "green square on the right.",
                "A blue star, a green square and a red circle.",
            ],
            [
                "A large red circle on the left and a small blue star at the top.",
                "A small red circle on the left, a small blue star at the top and a small "
                "green square on the right.",
                "A red circle at the top, a blue star on the left and a green square on the right.",
            ],
        ),
    ],
)
def test_checker_accepts_right_and_rejects_wrong(
    question: str, right: list[str], wrong: list[str]
) -> None:
    for answer in right:
        assert is_correct(question, SCENE, answer), answer
    for answer in wrong:
        assert not is_correct(question, SCENE, answer), answer


def test_reference_answers_are_right_and_templates_round_trip() -> None:
    rng = random.Random(0)
    seen = set()
    for seed in range(1500):
        scene = random_scene(seed)
        question = make_question(scene, rng)
        seen.add(question.kind)
        assert question.kind in applicable_kinds(scene)
        assert parse_question(question.text) == question
        assert is_correct(question, scene, reference_answer(question, scene))
    assert seen == {"describe", "count", "colour_at", "shape_at", "exists", "largest", "where"}


def test_reference_answers_are_wrong_for_other_scenes() -> None:
    rng = random.Random(1)
    wrong = 0
    for seed in range(500):
        scene, other = random_scene(seed), random_scene(seed + 10_000)
        question = make_question(scene, rng, kind="describe")
        wrong += not is_correct(question, other, reference_answer(question, scene))
    assert wrong > 490


def test_free_form_questions_are_not_checkable() -> None:
    assert parse_question("Why is the sky blue?") is None
    with pytest.raises(ValueError):
        is_correct("Why is the sky blue?", SCENE, "Because.")
    assert isinstance(parse_question("what  colour is the shape in the centre?"), Question)
