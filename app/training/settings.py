"""What a training run is told, and the pieces DPO and SFT runs share (TRL arguments, LoRA,
the progress bar).

Why one place: the controls must run with exactly the same steps, batch, learning rate and
schedule as the DPO run they are compared with.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]  # the Llama text model's attention


class TrainingError(ValueError):
    """A training run that can not start (bad settings, model or data); nothing was written."""


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 200
    lr: float = 5e-4
    beta: float = 0.1  # DPO only
    sft_weight: float = 0.0  # DPO only: > 0 adds the chosen answers' NLL (RPO), TRL "sft" loss
    batch_size: int = 16
    lora: bool = False
    lora_rank: int = 8
    seed: int = 0
    warmup_ratio: float = 0.05

    def __post_init__(self) -> None:
        checks = [(self.steps >= 1, "steps must be >= 1"), (self.lr > 0, "lr must be > 0"),
                  (self.beta > 0, "beta must be > 0"),
                  (self.sft_weight >= 0, "sft weight must be >= 0"),
                  (self.batch_size >= 1, "batch size must be >= 1"),
                  (self.lora_rank >= 1, "LoRA rank must be >= 1"),
                  (0 <= self.warmup_ratio < 1, "warmup ratio must be in [0, 1)")]
        for ok, message in checks:
            if not ok:
                raise TrainingError(message)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def trl_arguments(settings: TrainSettings, scratch: Path) -> dict[str, Any]:
    """Keyword arguments common to DPOConfig and SFTConfig: CPU, no checkpoints, no tqdm."""
    return {
        "output_dir": str(scratch), "max_steps": settings.steps,
        "per_device_train_batch_size": settings.batch_size, "learning_rate": settings.lr,
        "lr_scheduler_type": "linear", "warmup_steps": int(settings.warmup_ratio
                                                           * settings.steps),
        "logging_steps": 10, "report_to": [], "save_strategy": "no", "use_cpu": True,
        "bf16": False, "fp16": False, "seed": settings.seed, "data_seed": settings.seed,
        "dataloader_num_workers": 0, "disable_tqdm": True,
        "max_length": None,  # truncating would cut image placeholder tokens
    }


def lora_config(settings: TrainSettings) -> Any:
    if not settings.lora:
        return None
    from peft import LoraConfig

    return LoraConfig(r=settings.lora_rank, lora_alpha=2 * settings.lora_rank,
                      lora_dropout=0.0, target_modules=LORA_TARGETS, task_type="CAUSAL_LM")


def progress_callback(what: str) -> Any:
    """A TrainerCallback drawing a rich progress bar with the latest loss."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from transformers import TrainerCallback

    class RichProgress(TrainerCallback):
        def __init__(self) -> None:
            self.bar: Progress | None = None
            self.task: Any = None

        def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn(),
                                TextColumn("{task.fields[loss]}"))
            self.bar.start()
            self.task = self.bar.add_task(what, total=state.max_steps, loss="")

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
            if self.bar is not None:
                self.bar.update(self.task, completed=state.global_step)

        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
            if self.bar is not None and logs and "loss" in logs:
                self.bar.update(self.task, loss=f"loss {float(logs['loss']):.3f}")

        def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001
            if self.bar is not None:
                self.bar.stop()
                self.bar = None

    return RichProgress()


def fit(trainer_class: Any, config_class: Any, model: Any, processor: Any, dataset: Any,
        settings: TrainSettings, *, what: str, progress: bool = True,
        **config: Any) -> Any:
    """Run one TRL trainer with the shared arguments; the trained model (LoRA merged)."""
    with tempfile.TemporaryDirectory(prefix=f"arena-{what.lower()}-") as scratch:
        args = config_class(**trl_arguments(settings, Path(scratch)), **config)
        trainer = trainer_class(
            model=model, args=args, train_dataset=dataset, processing_class=processor,
            peft_config=lora_config(settings),
            callbacks=[progress_callback(what)] if progress else None)
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # the bar shows the loss; no dict per log
        trainer.train()
        trained = trainer.model
    if hasattr(trained, "merge_and_unload"):
        trained = trained.merge_and_unload()
    return trained.eval()
