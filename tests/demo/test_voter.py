"""Simulated voters reward the correct answer, the way a person checking the picture would."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from app.demo.shapes import Scene, Shape
from app.demo.voter import VOTES, SimulatedVoter, simulate_vote

SCENE = Scene(shapes=(Shape("circle", "red", "left", "large"),), image_size=64, seed=0)
QUESTION = "What colour is the shape on the left?"
RIGHT, WRONG = "The shape on the left is red.", "The shape on the left is blue."


def test_noiseless_voter_follows_the_truth() -> None:
    voter = SimulatedVoter(noise=0.0, both_right_tie=1.0, seed=0)
    assert voter.vote(QUESTION, SCENE, RIGHT, WRONG) == "model_a"
    assert voter.vote(QUESTION, SCENE, WRONG, RIGHT) == "model_b"
    assert voter.vote(QUESTION, SCENE, WRONG, "Green.") == "tie (bothbad)"
    assert voter.vote(QUESTION, SCENE, RIGHT, "Red.") == "tie"


def test_both_right_without_ties_picks_either_side() -> None:
    voter = SimulatedVoter(noise=0.0, both_right_tie=0.0, seed=1)
    votes = Counter(voter.vote(QUESTION, SCENE, RIGHT, "Red.") for _ in range(200))
    assert set(votes) == {"model_a", "model_b"}
    assert 60 < votes["model_a"] < 140


def test_noise_sometimes_overrules_the_truth() -> None:
    voter = SimulatedVoter(noise=0.4, seed=2)
    votes = Counter(voter.vote(QUESTION, SCENE, RIGHT, WRONG) for _ in range(1000))
    assert set(votes) == set(VOTES)
    assert 0.62 < votes["model_a"] / 1000 < 0.78  # 0.6 + 0.4 / 4 expected


def test_seeded_votes_reproduce() -> None:
    def run(seed: int) -> list[str]:
        rng = random.Random(seed)
        return [simulate_vote(QUESTION, SCENE, RIGHT, WRONG, noise=0.5, rng=rng) for _ in range(50)]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_rejects_bad_probabilities() -> None:
    with pytest.raises(ValueError):
        SimulatedVoter(noise=1.5)
