"""`arena feedback run | pairs | agreement | export`: VLFeedback on the arena's prompts.

`run` has k models answer each prompt (an imported file, or the arena's battles with
their two answers) and the judge rate all k answers in one call, through the workers, with
progress bars; running it again resumes it. `pairs` and `export` turn a ratings run into
preference pairs (plus the arena's decisive votes as human pairs) and the VLFeedback and
DPO dataset folders; `agreement` prints AI-human agreement per judge and model pair.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from arena_cli.bench import _bars, _fail, _with_services

feedback_cli = typer.Typer(help="VLFeedback: AI ratings of k answers per prompt, preference "
                                "pairs, AI-human agreement, VLFeedback and DPO exports.",
                           no_args_is_help=True)


def _run_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a run id (see `arena judge runs`)") from None


def _weights(text: str | None) -> Any:
    from app.feedback.pairs import parse_weights

    try:
        return parse_weights(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@feedback_cli.command("run")
def run(
    judge: Annotated[str, typer.Option(help="the judge model (registry name)")],
    prompts: Annotated[Path | None, typer.Option(help="a JSONL/JSON file of {id, prompt, "
                                                      "image} (image paths relative to it)")]
    = None,
    arena: Annotated[int | None, typer.Option(help="use the arena's N oldest single-turn "
                                                   "battles (their two answers are rated "
                                                   "too, for agreement)")] = None,
    k: Annotated[int, typer.Option(min=2, max=8, help="answers per prompt")] = 4,
    models: Annotated[list[str] | None, typer.Option(help="the pool to draw from (repeat "
                                                          "or comma-separate; default: the "
                                                          "registry's battle models)")]
    = None,
    seed: Annotated[int, typer.Option(help="seed of the model draw and answer order")] = 0,
    label: Annotated[str, typer.Option(help="a name for the runs")] = "feedback",
    timeout: Annotated[float | None, typer.Option(help="seconds per stage before giving up "
                                                       "(the run can be resumed)")] = None,
) -> None:
    """Answer and rate; resumable: run the same command again to continue."""
    from rich.console import Console
    from rich.table import Table

    from app.feedback.job import FeedbackParams, run_feedback
    from app.feedback.prompts import PromptFileError, load_prompt_file
    from app.feedback.store import arena_prompts
    from app.judges.runs import RunError
    from app.judges.templates import TemplateError, UnknownTemplate

    if (prompts is None) == (arena is None):
        raise _fail("give one prompt set: --prompts FILE or --arena N")
    pool = tuple(m.strip() for item in models or [] for m in item.split(",") if m.strip())
    params = FeedbackParams(judge=judge, k=k, models=pool, seed=seed, label=label,
                            timeout_s=timeout)
    try:
        prompt_set = load_prompt_file(prompts) if prompts is not None else None
    except PromptFileError as exc:
        raise _fail(str(exc)) from exc

    async def go(settings: Any, sessionmaker: Any, queue: Any, blobs: Any) -> Any:
        chosen = prompt_set
        if chosen is None:
            async with sessionmaker() as session:
                chosen = await arena_prompts(session, limit=int(arena or 0))
        with _bars() as bars:
            tasks: dict[str, Any] = {}

            def on_progress(stage: str, p: Any) -> None:
                if stage not in tasks:
                    tasks[stage] = bars.add_task(stage, total=p.total, note="")
                bars.update(tasks[stage], completed=p.finished, total=p.total,
                            note=f"{p.running} running, {p.parse_failures} unparsable, "
                                 f"{p.failed} failed")

            return await run_feedback(sessionmaker, queue, blobs, chosen, params,
                                      on_progress=on_progress)

    try:
        result = _with_services(go)
    except (RunError, UnknownTemplate, TemplateError) as exc:
        raise _fail(f"feedback run stopped: {exc}") from exc
    table = Table(title=f"VLFeedback ratings by {judge} (k={k})")
    for key in ("prompts", "rated", "unparsable", "failed", "too_few_answers",
                "answers_missing", "missing_images"):
        table.add_column(key.replace("_", " "), justify="right")
    table.add_row(*(str(result.counts.get(c, 0)) for c in (
        "prompts", "rated", "unparsable", "failed", "too_few_answers", "answers_missing",
        "missing_images")))
    Console().print(table)
    typer.echo(f"ratings run: {result.ratings_run_id}")


@feedback_cli.command("pairs")
def pairs(
    run_id: Annotated[str, typer.Option("--run", help="the ratings run")],
    margin: Annotated[float, typer.Option(min=0, help="keep a pair when the score "
                                                      "difference is above this")] = 0.0,
    weights: Annotated[str | None, typer.Option(help="aspect weights, e.g. 'h=1,v=2,e=0'")]
    = None,
    human: Annotated[bool, typer.Option(help="add the arena's decisive votes")] = True,
) -> None:
    """Count the run's preference pairs and their controls."""
    from rich.console import Console
    from rich.table import Table

    from app.feedback.exports import collect
    from app.feedback.folders import ExportError
    from app.feedback.pairs import summarise

    rid, w = _run_id(run_id), _weights(weights)

    async def go(settings: Any, sessionmaker: Any, queue: Any, blobs: Any) -> Any:
        return await collect(sessionmaker, rid, margin=margin, weights=w, human=human)

    try:
        items, found, skipped = _with_services(go)
    except ExportError as exc:
        raise _fail(str(exc)) from exc
    table = Table(title=f"pairs of run {rid} (margin {margin:g})")
    for col in ("source", "prompts", "unparsed", "pairs", "chosen is longest",
                "judge rates itself"):
        table.add_column(col, justify="left" if col == "source" else "right")
    ai = summarise(items, [p for p in found if p.source == "ai"])
    table.add_row("ai", str(ai.items), str(ai.failures), str(ai.pairs),
                  str(ai.chosen_is_longest), str(ai.judge_rates_itself))
    if human:
        hp = [p for p in found if p.source == "human"]
        table.add_row("human", "–", "–", str(len(hp)),
                      str(sum(p.chosen_is_longest for p in hp)), "–")
    Console().print(table)
    if skipped:
        typer.echo("votes without a human pair: " + ", ".join(
            f"{k} {v}" for k, v in sorted(skipped.items())))


def print_agreement(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    def pct(x: float | None) -> str:
        return "–" if x is None else f"{100 * x:.1f}%"

    table = Table(title="AI-human agreement (95% Wilson interval)")
    for col in ("judge", "model pair", "battles", "agree", "rate", "95% CI", "AI ties"):
        table.add_column(col, justify="left" if col in ("judge", "model pair") else "right")
    o = report["overall"]
    table.add_row("all", "all", str(o["n"]), str(o["agree"]), pct(o["rate"]),
                  f"{pct(o['ci_lower'])} – {pct(o['ci_upper'])}", str(o["ai_ties"]))
    for r in report["by_pair"]:
        table.add_row(r["judge"], f"{r['model_a']} vs {r['model_b']}", str(r["n"]),
                      str(r["agree"]), pct(r["rate"]),
                      f"{pct(r['ci_lower'])} – {pct(r['ci_upper'])}", str(r["ai_ties"]))
    Console().print(table)


@feedback_cli.command("agreement")
def agreement_cmd(judge: Annotated[str | None, typer.Option(help="only this judge")] = None
                  ) -> None:
    """AI-human agreement on battles with a decisive vote and ratings of both sides."""
    from app.feedback.agreement import agreement
    from app.feedback.store import agreement_items

    async def go(settings: Any, sessionmaker: Any, queue: Any, blobs: Any) -> Any:
        async with sessionmaker() as session:
            return await agreement_items(session, judge=judge)

    items, skipped = _with_services(go)
    if not items:
        raise _fail("no battle has both a decisive vote and AI ratings of both sides "
                    "(`arena feedback run --arena N --judge J`)", code=1)
    print_agreement(agreement(items).as_json())
    if skipped:
        typer.echo("rated battles left out: " + ", ".join(f"{k} {v}"
                                                        for k, v in sorted(skipped.items())))


@feedback_cli.command("export")
def export(
    run_id: Annotated[str, typer.Option("--run", help="the ratings run")],
    out: Annotated[Path, typer.Option(help="the folder to write (must not exist)")],
    margin: Annotated[float, typer.Option(min=0, help="pair margin")] = 0.0,
    weights: Annotated[str | None, typer.Option(help="aspect weights, e.g. 'h=1,v=2,e=0'")]
    = None,
    human: Annotated[bool, typer.Option(help="add the arena's decisive votes")] = True,
    overwrite: Annotated[bool, typer.Option(help="replace an existing folder")] = False,
) -> None:
    """Write OUT/vlfeedback (VLFeedback schema), OUT/dpo (TRL DPO) and the agreement."""
    from app.feedback.exports import export_run
    from app.feedback.folders import ExportError

    rid, w = _run_id(run_id), _weights(weights)

    async def go(settings: Any, sessionmaker: Any, queue: Any, blobs: Any) -> Any:
        return await export_run(sessionmaker, blobs, rid, out, margin=margin, weights=w,
                                human=human, overwrite=overwrite)

    try:
        result = _with_services(go)
    except ExportError as exc:
        raise _fail(f"nothing exported: {exc}") from exc
    c = result.counts
    typer.echo(f"{out}: {result.vlfeedback.rows} rated prompts (vlfeedback/), "
               f"{result.dpo.rows} pairs (dpo/: {c['pairs']} ai, {c['human_pairs']} human; "
               f"chosen is longest {result.dpo.counts['chosen_is_longest']}, judge rates "
               f"itself {result.dpo.counts['judge_rates_itself']}); {c['failures']} "
               f"unparsed prompts left out; missing images {c['missing_images']}")
    o = result.agreement["overall"]
    if o["n"]:
        typer.echo(f"AI-human agreement {100 * o['rate']:.1f}% "
                   f"[{100 * o['ci_lower']:.1f}, {100 * o['ci_upper']:.1f}] on {o['n']} "
                   "battles (agreement.json)")


def register(cli: typer.Typer) -> None:
    cli.add_typer(feedback_cli, name="feedback")
