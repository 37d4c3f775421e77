"""Accuracy on held-out demo-world questions, and the paired difference of two models.

Why paired: base and tuned answer the same questions, so the difference's uncertainty comes
from the questions where they disagree (McNemar; a paired bootstrap for the interval).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import binomtest

from app.demo.evaluate import HELD_OUT_SEEDS, Example, examples, generate_answers
from app.demo.questions import is_correct
from app.demo.shapes import random_scene

EVAL_SEED = 3  # the demo models' cards use examples(HELD_OUT_SEEDS, n, seed=3)


def held_out_questions(count: int, seed: int = EVAL_SEED) -> list[Example]:
    return examples(HELD_OUT_SEEDS, count, seed=seed)


def correctness(model: Any, processor: Any, items: list[Example]) -> list[bool]:
    """Per item: is the model's greedy answer right (the shapes checker)?"""
    answers = generate_answers(model, processor, items)
    return [is_correct(e.question, random_scene(e.scene_seed), a)
            for e, (a,) in zip(items, answers, strict=True)]


@dataclass(frozen=True)
class PairedDifference:
    n: int
    base: float
    tuned: float
    diff: float  # tuned - base accuracy
    low: float  # 95% paired bootstrap interval of diff
    high: float
    only_tuned: int  # questions only the tuned model gets right
    only_base: int
    mcnemar_p: float  # exact two-sided McNemar test

    def as_json(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def paired_difference(base: list[bool], tuned: list[bool], *, rounds: int = 10_000,
                      seed: int = 0) -> PairedDifference:
    if len(base) != len(tuned) or not base:
        raise ValueError("base and tuned need the same non-zero number of questions")
    b, t = np.asarray(base, float), np.asarray(tuned, float)
    d = t - b
    rng = np.random.default_rng(seed)
    boot = d[rng.integers(0, d.size, (rounds, d.size))].mean(axis=1)
    low, high = np.quantile(boot, [0.025, 0.975])
    only_t, only_b = int((d > 0).sum()), int((d < 0).sum())
    p = binomtest(only_t, only_t + only_b, 0.5).pvalue if only_t + only_b else 1.0
    return PairedDifference(d.size, float(b.mean()), float(t.mean()), float(d.mean()),
                            float(low), float(high), only_t, only_b, float(p))
