"""One fine-tuning run from start to finish: check the inputs, train, measure, write the folder.

Everything that can be wrong (settings, data folder, model, output folder) is checked before
training; the model folder is written under a temporary name beside `out` and renamed when
complete, so a failed run leaves nothing that looks like a model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from app.feedback.folders import staged_folder
from app.training.base import load_model, resolve_model, save_model
from app.training.card import write_card
from app.training.controls import PAIR_LABELS, PairLabels, relabel
from app.training.data import load_preferences
from app.training.settings import TrainingError, TrainSettings

Method = Literal["dpo", "sft"]


@dataclass(frozen=True)
class RunRequest:
    method: Method
    model: str  # registry name or folder
    data: Path
    out: Path
    settings: TrainSettings
    labels: PairLabels = "as-labelled"
    registry: Path = Path("models.yaml")
    eval_questions: int = 300
    name: str | None = None  # of the new model; default: the out folder's name


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise TrainingError(f"{out} exists and is not empty: choose another output folder")


def train(method: Method, model: Any, processor: Any, dataset: Any, settings: TrainSettings,
          progress: bool = True) -> Any:
    import torch

    torch.manual_seed(settings.seed)
    if method == "dpo":
        from app.training.dpo import train_dpo

        return train_dpo(model, processor, dataset, settings, progress=progress)
    from app.training.sft import train_sft

    return train_sft(model, processor, dataset, settings, progress=progress)


def fine_tune(req: RunRequest, *, progress: bool = True) -> dict[str, Any]:
    """Run `req`; the facts written to the card (training.json)."""
    if req.method not in ("dpo", "sft"):
        raise TrainingError(f"method must be dpo or sft, got {req.method!r}")
    if req.labels not in PAIR_LABELS:
        raise TrainingError(f"pairs must be one of {PAIR_LABELS}, got {req.labels!r}")
    if req.eval_questions < 0:
        raise TrainingError("eval questions must be >= 0")
    out = Path(req.out)
    _check_out(out)
    data = load_preferences(req.data)
    base_name, base_path = resolve_model(req.model, req.registry)
    model, processor = load_model(base_path)
    from app.training.heldout import (
        EVAL_SEED,
        correctness,
        held_out_questions,
        paired_difference,
    )

    items = held_out_questions(req.eval_questions) if req.eval_questions else []
    before = correctness(model, processor, items) if items else []
    dataset = relabel(data.dataset, req.labels, seed=req.settings.seed)
    started = time.monotonic()
    trained = train(req.method, model, processor, dataset, req.settings, progress)
    train_s = time.monotonic() - started
    evaluation = None
    if items:
        after = correctness(trained, processor, items)
        evaluation = {**paired_difference(before, after).as_json(), "seed": EVAL_SEED,
                      "right_base": [int(x) for x in before],
                      "right_tuned": [int(x) for x in after]}
    facts = {
        "name": req.name or out.resolve().name, "base": base_name, "base_path": str(base_path),
        "method": req.method, "labels": req.labels, "out": str(out),
        "data": {"folder": str(data.folder), "rows": len(dataset), "rows_in_folder": data.rows,
                 "sources": data.sources, "sha256": data.sha256, "sha256_of": data.sha256_of},
        "settings": req.settings.as_json(), "train_seconds": round(train_s, 1),
        "evaluation": evaluation,
    }
    with staged_folder(out) as tmp:
        save_model(trained, processor, tmp)
        write_card(tmp, facts)
    return facts
