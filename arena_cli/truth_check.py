"""`arena truth-check`: an installation checked end to end against known truth."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer


def truth_check(
    url: Annotated[str, typer.Option(help="the arena to check")] = "http://127.0.0.1:8000",
    battles: Annotated[int, typer.Option(min=10, help="how many battles")] = 300,
    concurrency: Annotated[int, typer.Option(min=1, help="battles at once")] = 8,
    mode: Annotated[
        str, typer.Option(help="side_by_side (kept off the leaderboard) or anonymous")
    ] = "side_by_side",
    seed: Annotated[int, typer.Option(help="scenes, questions and voter noise")] = 0,
) -> None:
    """Check an installation end to end with the demo models and simulated voters whose
    truth is known: the ranking must follow the models' measured accuracy."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from app.demo.truth_check import TruthCheckError, run_truth_check

    console = Console()
    with Progress(console=console) as bar:
        task = bar.add_task("battles", total=battles)
        try:
            result = asyncio.run(run_truth_check(
                url, battles=battles, concurrency=concurrency, mode=mode, seed=seed,
                progress=lambda n: bar.advance(task, n),
            ))
        except (TruthCheckError, OSError) as exc:
            console.print(f"[red]truth check could not run:[/red] {exc}")
            raise typer.Exit(2) from exc
    table = Table("model", "accuracy", "rating", "95% CI")
    acc, ivs = result.accuracy(), result.intervals()
    for m in result.ranking():
        r, lo, hi = ivs[m]
        table.add_row(m, f"{acc[m]:.0%}", f"{r:.0f}", f"{lo:.0f} – {hi:.0f}")
    console.print(table)
    console.print(f"{len(result.battles)} battles voted, {result.failed} failed")
    if result.passed():
        console.print("[green]PASS[/green]: the ranking follows accuracy and the CIs separate")
        return
    console.print("[red]FAIL[/red]: ranking " + " > ".join(result.ranking())
                  + " vs accuracy " + " > ".join(result.accuracy_order())
                  + ("" if result.separated() else " (intervals overlap)"))
    raise typer.Exit(1)


def register(cli: typer.Typer) -> None:
    cli.command("truth-check")(truth_check)
