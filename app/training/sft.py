"""Supervised fine-tuning on the chosen answers with TRL's SFTTrainer: the DPO control that
uses the preferred answers but not the rejected ones (loss on the completion only)."""

from __future__ import annotations

from typing import Any

from app.training.controls import sft_rows
from app.training.settings import TrainSettings, fit


def train_sft(model: Any, processor: Any, dataset: Any, settings: TrainSettings,
              *, progress: bool = True) -> Any:
    """Fine-tune `model` in place on (prompt, chosen) rows; returns the trained model."""
    from trl import SFTConfig, SFTTrainer

    return fit(SFTTrainer, SFTConfig, model, processor, sft_rows(dataset), settings,
               what="SFT", progress=progress)
