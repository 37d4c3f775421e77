"""Ground-truth leak detection for FIRE teacher feedback."""

from __future__ import annotations

import pytest

from app.judges import find_leaks, leaks_ground_truth
from app.judges.leakage import normalise_words


@pytest.mark.parametrize(("feedback", "truth"), [
    ("The answer is red.", "red"),
    ("It is RED!", "red"),
    ("Think: red-circle, not square", "red circle"),
    ("the correct one is the Red   Circle.", "a red circle"),  # article, spacing, case
    ("There are three of them.", "3"),
    ("Count again: 3 shapes.", "three"),
    ("look at the top_left corner", "top left"),
    ("Ｒｅｄ is right", "red"),  # full-width letters (NFKC)
    ("Is it the blue square? Yes.", "Blue square."),
])
def test_leaks_are_caught(feedback: str, truth: str) -> None:
    assert leaks_ground_truth(feedback, truth)


@pytest.mark.parametrize(("feedback", "truth"), [
    ("Look at the colour again.", "red"),
    ("The reddish tint misled you.", "red"),  # part of a word is not the word
    ("There are 13 shapes in total; count the circles.", "3"),
    ("Count the circles again.", "3"),
    ("Circle is right, the colour is not.", "red circle"),  # a part of the phrase only
    ("Look again.", ""),
    ("Look again.", "?!"),
])
def test_non_leaks(feedback: str, truth: str) -> None:
    assert not leaks_ground_truth(feedback, truth)


def test_values_catch_leaks_in_other_words() -> None:
    feedback = "The shape on the left is a blue one."
    assert not leaks_ground_truth(feedback, "There is one blue square on the left side")
    assert leaks_ground_truth(feedback, "There is one blue square on the left side",
                              values=["blue", "square"])
    assert find_leaks(feedback, "a blue square", values=["blue", "square", "left"]) == [
        "blue", "left"]


def test_normalise_words() -> None:
    assert normalise_words("Two RED, circles!") == ("2", "red", "circles")
    assert normalise_words("") == ()
