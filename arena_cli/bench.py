"""`arena bench build | run | show | nightly`: VisionArena-Bench on the arena's prompts.

`build` writes a bench folder from the battles in the database; `run` has the candidates
answer it and the judge compare each answer with the anchor's (through the workers, so it
needs the deployment path: Redis and worker processes), with progress bars, and stores the
score; killing `run` and starting it again resumes it. Heavy imports happen inside the
commands so `arena --help` stays fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

T = TypeVar("T")
bench_cli = typer.Typer(help="VisionArena-Bench: build a bench from the arena's prompts, "
                             "run it, score it against an anchor.", no_args_is_help=True)


def _with_services(fn: Callable[[Any, Any, Any, Any], Awaitable[T]]) -> T:
    """Migrate, then ``await fn(settings, sessionmaker, queue, blobs)``."""
    from app.config import get_settings
    from app.db.migrate import upgrade
    from app.db.session import make_engine, make_sessionmaker
    from app.queue import make_queue
    from app.storage.blobs import LocalBlobStore

    settings = get_settings()
    upgrade(settings.database_url)

    async def go() -> T:
        engine = make_engine(settings.database_url)
        queue = make_queue(settings.redis_url, prefix=settings.redis_prefix,
                           lease_ms=settings.lease_ms)
        try:
            return await fn(settings, make_sessionmaker(engine), queue,
                            LocalBlobStore(settings.blobs_path))
        finally:
            await queue.close()
            await engine.dispose()

    return asyncio.run(go())


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(message, fg="red", err=True)
    return typer.Exit(code)


@bench_cli.command("build")
def build(
    n: Annotated[int, typer.Option("--n", min=1, help="questions in the bench")] = 500,
    seed: Annotated[int, typer.Option(help="seed of k-means and of the sampling")] = 0,
    clusters: Annotated[int | None, typer.Option(help="k-means clusters (default N/2)")]
    = None,
    before: Annotated[str | None, typer.Option(help="only battles created before this "
                                                     "ISO time (to rebuild from the same "
                                                     "data)")] = None,
    clip: Annotated[Path | None, typer.Option(help="a local CLIP model folder: text and "
                                                   "image embeddings from it")] = None,
    out: Annotated[Path | None, typer.Option(help="root folder (default: DATA_DIR/benches)")]
    = None,
    name: Annotated[str | None, typer.Option(help="folder name (default: the version)")]
    = None,
) -> None:
    """Curate N prompts from the arena's battles into a versioned bench folder."""
    from rich.console import Console

    from app.bench.build import BuildParams, build_bench, default_language_of
    from app.bench.curate import BenchBuildError
    from app.bench.embed import EmbedderUnavailable

    cutoff = None
    if before is not None:
        try:
            cutoff = datetime.fromisoformat(before)
        except ValueError:
            raise typer.BadParameter("use an ISO time, e.g. 2026-12-01T00:00:00+00:00") from None
    console = Console(stderr=True)

    async def go(settings: Any, sessionmaker: Any, queue: Any, blobs: Any) -> Any:
        root = out or settings.data_dir / "benches"
        with console.status("building") as status:
            return await build_bench(
                sessionmaker, blobs, root, BuildParams(n, seed, clusters, cutoff, clip),
                folder=name, language_of=default_language_of(),
                stage=lambda s: status.update(s))

    try:
        bench = _with_services(go)
    except (BenchBuildError, EmbedderUnavailable) as exc:
        raise _fail(f"bench not built: {exc}") from exc
    counts = bench.manifest["counts"]
    typer.echo(f"bench {bench.version}: {counts['selected']} questions from "
               f"{counts['eligible']} eligible prompts ({counts['battles_considered']} "
               f"battles, {counts['duplicates_dropped']} duplicates, {counts['clusters']} "
               f"clusters) in {bench.path}")


def _bars() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("{task.fields[note]}"))


def print_score(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    score = result["score"]
    table = Table(title=f"bench {result['bench']} · judge {result['judge']} · anchor "
                        f"{result['anchor']}")
    for col in ("model", "win rate", "95% CI", ">>", ">", "=", "<", "<<", "unparsable",
                "reward", "tokens"):
        table.add_column(col, justify="left" if col == "model" else "right")

    def num(x: float | None, fmt: str = "{:.1f}") -> str:
        return "–" if x is None else fmt.format(x)

    for r in score["rows"]:
        v = r["verdicts"]
        table.add_row(r["model"] + (" (anchor)" if r["anchor"] else ""), num(r["win_rate"]),
                      "–" if r["ci_lower"] is None else
                      f"{r['ci_lower']:.1f} – {r['ci_upper']:.1f}",
                      *(str(v[k]) for k in ("much_better", "better", "tie", "worse",
                                            "much_worse")),
                      str(v["unparsable"] + v["failed"]), num(r["reward"]),
                      num(r["answer_tokens"]))
    console = Console()
    console.print(table)
    a = result.get("agreement")
    if a:
        console.print(
            f"vs the arena ({a['n_models']} models): Spearman {num(a['spearman'], '{:.3f}')}, "
            f"Kendall tau {num(a['kendall_tau'], '{:.3f}')}, confidence agreement "
            f"{num(a['confidence_agreement'], '{:.3f}')} ({a['n_confident_pairs']} pairs), "
            f"separability {num(a['separability'], '{:.3f}')}")
    else:
        console.print("no leaderboard snapshot yet: no agreement with the arena")
    if score["unparsable"] or score["failed"]:
        console.print(f"[yellow]{score['unparsable']} unparsable and {score['failed']} "
                      "failed judgments counted no game[/]")


@bench_cli.command("run")
def run(
    bench_dir: Annotated[Path, typer.Option("--bench", help="the bench folder")],
    models: Annotated[list[str], typer.Option("--models", help="candidate models (repeat "
                                                               "or comma-separate)")],
    anchor: Annotated[str, typer.Option(help="the anchor model (50%)")],
    judge: Annotated[str, typer.Option(help="the judge model")],
    answer_template: Annotated[str, typer.Option(help="candidates' template")] = "answer@1",
    judge_template: Annotated[str, typer.Option(help="judge's template")]
    = "bench-pairwise@1",
    seed: Annotated[int, typer.Option(help="bootstrap seed")] = 0,
    bootstrap: Annotated[int, typer.Option(min=10, help="bootstrap rounds")] = 100,
    timeout: Annotated[float | None, typer.Option(help="seconds per stage before giving up "
                                                       "(the run can be resumed)")] = None,
) -> None:
    """Answer, judge (positions swapped), score; resumable: run it again to continue."""
    from app.bench.files import BenchFileError, load_bench
    from app.bench.runner import RunParams, run_bench
    from app.bench.score import ScoreError
    from app.judges.runs import RunError
    from app.judges.templates import TemplateError, UnknownTemplate

    names = tuple(m.strip() for item in models for m in item.split(",") if m.strip())
    try:
        bench = load_bench(bench_dir)
    except BenchFileError as exc:
        raise _fail(str(exc)) from exc
    params = RunParams(names, anchor, judge, answer_template, judge_template, seed, bootstrap,
                       timeout_s=timeout)

    async def go(settings: Any, sessionmaker: Any, queue: Any, blobs: Any) -> Any:
        with _bars() as bars:
            tasks: dict[str, Any] = {}

            def on_progress(stage: str, p: Any) -> None:
                if stage not in tasks:
                    tasks[stage] = bars.add_task(stage, total=p.total, note="")
                note = (f"{p.running} running, {p.parse_failures} unparsable, "
                        f"{p.failed} failed, {p.completion_tokens} tokens")
                bars.update(tasks[stage], completed=p.finished, total=p.total, note=note)

            return await run_bench(sessionmaker, queue, blobs, bench, params,
                                   on_progress=on_progress)

    try:
        result = _with_services(go)
    except (RunError, UnknownTemplate, TemplateError, ScoreError) as exc:
        raise _fail(f"bench run stopped: {exc}") from exc
    print_score(result.as_json())
    if result.missing_answers:
        typer.echo(f"answers missing (failed jobs): {result.missing_answers}")
    typer.echo(f"result: {result.result_file}")


@bench_cli.command("show")
def show(bench_dir: Annotated[Path, typer.Option("--bench", help="the bench folder")]) -> None:
    """Print the stored results of a bench folder."""
    import json

    files = sorted((bench_dir / "results").glob("*.json"))
    if not files:
        raise _fail(f"{bench_dir}: no results yet (`arena bench run`)")
    for f in files:
        print_score(json.loads(f.read_text()))


@bench_cli.command("nightly")
def nightly(timeout: Annotated[float | None, typer.Option(help="seconds per stage")] = None
            ) -> None:
    """What the scheduler does each night: answer and judge models new since each bench's
    latest result, recompute agreement with the latest leaderboard (rebuilds nothing)."""
    from app.bench.nightly import run_nightly

    async def go(settings: Any, sessionmaker: Any, queue: Any, blobs: Any) -> Any:
        return await run_nightly(sessionmaker, queue, blobs, timeout_s=timeout)

    for outcome in _with_services(go):
        extra = f" (+{', '.join(outcome.new_models)})" if outcome.new_models else ""
        typer.echo(f"{outcome.bench_version}: {outcome.status}{extra} {outcome.note}".rstrip())


def register(cli: typer.Typer) -> None:
    cli.add_typer(bench_cli, name="bench")
