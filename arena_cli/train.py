"""`arena train dpo` and `arena train sft`: fine-tune a registry model on a DPO export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

train_app = typer.Typer(help="Fine-tune a model on the arena's preference data (TRL, CPU).",
                        no_args_is_help=True)

Model = Annotated[str, typer.Option("--model", help="registry name or model folder")]
Data = Annotated[Path, typer.Option("--data", help="DPO dataset folder (arena feedback export)")]
Out = Annotated[Path, typer.Option("--out", help="new model folder (must not exist or be empty)")]
Steps = Annotated[int, typer.Option(help="optimizer steps")]
Lr = Annotated[float, typer.Option(help="peak learning rate (linear decay)")]
Batch = Annotated[int, typer.Option("--batch-size", help="pairs per step")]
Lora = Annotated[bool, typer.Option("--lora/--full", help="LoRA adapters (merged at the end)")]
Rank = Annotated[int, typer.Option(help="LoRA rank")]
Seed = Annotated[int, typer.Option(help="data order and initialisation")]
Eval = Annotated[int, typer.Option(help="held-out demo-world questions scored before and "
                                        "after (0: skip; only meaningful for demo models)")]
Registry = Annotated[Path, typer.Option(help="model registry file")]


def _run(method: str, model: str, data: Path, out: Path, labels: str, **kw) -> None:
    import torch
    from rich.console import Console

    from app.training.fine_tune import RunRequest, fine_tune
    from app.training.settings import TrainingError, TrainSettings

    console = Console()
    registry, eval_questions = kw.pop("registry"), kw.pop("eval_questions")
    torch.set_num_threads(kw.pop("threads"))
    try:
        facts = fine_tune(RunRequest(method, model, data, out, TrainSettings(**kw),  # type: ignore[arg-type]
                                     labels=labels, registry=registry,  # type: ignore[arg-type]
                                     eval_questions=eval_questions))
    except TrainingError as exc:
        console.print(f"[red]not trained:[/red] {exc}")
        raise typer.Exit(2) from exc
    ev = facts["evaluation"]
    console.print(f"wrote {out} ({facts['data']['rows']} rows, {facts['settings']['steps']} "
                  f"steps, {facts['train_seconds']:.0f} s)")
    if ev:
        console.print(f"held-out accuracy {ev['base']:.1%} -> {ev['tuned']:.1%} on {ev['n']} "
                      f"questions: {ev['diff']:+.1%} (95% CI {ev['low']:+.1%} to "
                      f"{ev['high']:+.1%}, McNemar p {ev['mcnemar_p']:.2g})")
    console.print(f"card: {out / 'MODEL_CARD.md'}")


@train_app.command("dpo")
def dpo(model: Model, data: Data, out: Out, steps: Steps = 200, lr: Lr = 5e-4,
        beta: Annotated[float, typer.Option(help="DPO beta")] = 0.1,
        sft_weight: Annotated[float, typer.Option(
            help="add this weight x the chosen answers' NLL to the DPO loss (RPO)")] = 0.0,
        batch_size: Batch = 16,
        lora: Lora = False, lora_rank: Rank = 8, seed: Seed = 0,
        pairs: Annotated[str, typer.Option(
            help="as-labelled, or a control: shuffled (chosen/rejected swapped at random), "
                 "longest (the longer answer chosen)")] = "as-labelled",
        eval_questions: Eval = 300, registry: Registry = Path("models.yaml"),
        threads: Annotated[int, typer.Option(help="torch threads")] = 1) -> None:
    """DPO (TRL DPOTrainer) on the pairs; writes a model folder with MODEL_CARD.md."""
    _run("dpo", model, data, out, pairs, steps=steps, lr=lr, beta=beta, sft_weight=sft_weight,
         batch_size=batch_size,
         lora=lora, lora_rank=lora_rank, seed=seed, eval_questions=eval_questions,
         registry=registry, threads=threads)


@train_app.command("sft")
def sft(model: Model, data: Data, out: Out, steps: Steps = 200, lr: Lr = 5e-4,
        batch_size: Batch = 16, lora: Lora = False, lora_rank: Rank = 8, seed: Seed = 0,
        eval_questions: Eval = 300, registry: Registry = Path("models.yaml"),
        threads: Annotated[int, typer.Option(help="torch threads")] = 1) -> None:
    """Supervised fine-tuning on the chosen answers (the DPO control), same options."""
    _run("sft", model, data, out, "as-labelled", steps=steps, lr=lr, batch_size=batch_size,
         lora=lora, lora_rank=lora_rank, seed=seed, eval_questions=eval_questions,
         registry=registry, threads=threads)


def register(cli: typer.Typer) -> None:
    cli.add_typer(train_app, name="train")
