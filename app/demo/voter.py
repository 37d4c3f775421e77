"""A simulated arena visitor who votes on a battle about a shapes image.

It reads both answers, checks them against the scene's ground truth and votes as a person
would: the right answer wins, two wrong answers are "tie (bothbad)", two right ones are
usually a tie. Some votes are noise (people misclick, skim, or have tastes), so the demo's
leaderboard has realistic uncertainty while its right order is known.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from app.demo.questions import Question, is_correct
from app.demo.shapes import Scene

Vote = Literal["model_a", "model_b", "tie", "tie (bothbad)"]
VOTES: tuple[Vote, ...] = ("model_a", "model_b", "tie", "tie (bothbad)")


@dataclass
class SimulatedVoter:
    """`noise`: chance of a random vote; `both_right_tie`: chance that two right answers tie
    (otherwise the voter picks one of them at random)."""

    noise: float = 0.1
    both_right_tie: float = 0.7
    seed: int | None = None
    rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not (0.0 <= self.noise <= 1.0 and 0.0 <= self.both_right_tie <= 1.0):
            raise ValueError("noise and both_right_tie are probabilities in [0, 1]")
        self.rng = random.Random(self.seed)

    def vote(self, question: Question | str, scene: Scene, answer_a: str, answer_b: str) -> Vote:
        if self.rng.random() < self.noise:
            return self.rng.choice(VOTES)
        a_right = is_correct(question, scene, answer_a)
        b_right = is_correct(question, scene, answer_b)
        if a_right and b_right:
            if self.rng.random() < self.both_right_tie:
                return "tie"
            return self.rng.choice(("model_a", "model_b"))
        if a_right:
            return "model_a"
        if b_right:
            return "model_b"
        return "tie (bothbad)"


def simulate_vote(
    question: Question | str,
    scene: Scene,
    answer_a: str,
    answer_b: str,
    *,
    noise: float = 0.1,
    both_right_tie: float = 0.7,
    rng: random.Random | None = None,
) -> Vote:
    """One vote by a fresh voter (pass `rng` for reproducible noise)."""
    voter = SimulatedVoter(noise=noise, both_right_tie=both_right_tie)
    if rng is not None:
        voter.rng = rng
    return voter.vote(question, scene, answer_a, answer_b)
