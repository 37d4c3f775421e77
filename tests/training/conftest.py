"""Preference data for the training tests: real pairs with known truth from a real demo model.

The chosen answer is the shapes world's reference answer, the rejected one is shapes-small's
own wrong greedy answer to the same question, written with the arena's DPO export. Training
pairs come from training scenes, held-out pairs from the held-out scene seeds only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CPU_MODELS_HOW, require_module

require_module("torch", CPU_MODELS_HOW)
require_module("trl", "install the research extra (scripts/setup.sh)")

from app.demo.evaluate import HELD_OUT_SEEDS, TRAIN_SEEDS, examples, generate_answers  # noqa: E402
from app.demo.questions import is_correct  # noqa: E402
from app.demo.shapes import random_scene, render_png  # noqa: E402
from app.feedback.dpo_export import DpoRow, write_dpo_dataset  # noqa: E402
from app.training.base import load_model  # noqa: E402

DEMO = Path(__file__).resolve().parents[2] / "models" / "demo"
BASE = DEMO / "shapes-small"


def known_truth_pairs(seeds: range, count: int, seed: int) -> list[DpoRow]:
    """(reference answer > the base model's wrong answer) for the questions it gets wrong."""
    import torch

    torch.set_num_threads(1)
    items = examples(seeds, count, seed=seed)
    model, processor = load_model(BASE)
    answers = generate_answers(model, processor, items)
    rows = []
    for n, (e, (answer,)) in enumerate(zip(items, answers, strict=True)):
        scene = random_scene(e.scene_seed)
        if is_correct(e.question, scene, answer) or answer.strip() == e.answer:
            continue
        rows.append(DpoRow(f"{seed}-{n}", e.question.text, e.answer, answer,
                           (render_png(scene),), "ai" if n % 4 else "human", "reference",
                           "shapes-small", 5.0 if n % 4 else None, 1.0 if n % 4 else None,
                           "shapes-checker" if n % 4 else None))
    return rows


@pytest.fixture(scope="session")
def train_pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dpo-data") / "train"
    write_dpo_dataset(known_truth_pairs(TRAIN_SEEDS, 240, seed=21), folder)
    return folder


@pytest.fixture(scope="session")
def held_out_pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dpo-data") / "held-out"
    write_dpo_dataset(known_truth_pairs(HELD_OUT_SEEDS, 120, seed=22), folder)
    return folder
