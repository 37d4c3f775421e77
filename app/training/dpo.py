"""DPO with TRL's DPOTrainer (sigmoid loss, reference model = the frozen base).

TRL's vision collator builds the batches from the DPO export's columns as they are: the
prompt through the model's chat template with the image, then chosen and rejected each
ending with the end-of-turn token.
"""

from __future__ import annotations

from typing import Any

from app.training.settings import TrainSettings, fit

DPO_COLUMNS = ["images", "prompt", "chosen", "rejected"]


def train_dpo(model: Any, processor: Any, dataset: Any, settings: TrainSettings,
              *, progress: bool = True) -> Any:
    """Fine-tune `model` in place on the preference pairs; returns the trained model."""
    from trl import DPOConfig, DPOTrainer

    losses = {"loss_type": ["sigmoid"]}
    if settings.sft_weight > 0:  # RPO: DPO plus the NLL of the chosen answer
        losses = {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, settings.sft_weight]}
    return fit(DPOTrainer, DPOConfig, model, processor, dataset.select_columns(DPO_COLUMNS),
               settings, what="DPO", progress=progress, beta=settings.beta, **losses)
