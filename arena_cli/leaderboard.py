"""`arena leaderboard`, `arena export` and `arena scheduler` (registered on the main CLI).

The leaderboard itself lives in `app.leaderboard`; the export and its nightly scheduler in
`workers.export`. Heavy imports happen inside the commands so `arena --help` stays fast.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

T = TypeVar("T")

SeedOpt = Annotated[int, typer.Option(help="seed of the bootstrap and of down-sampling")]
BootstrapOpt = Annotated[int, typer.Option(help="bootstrap rounds for the default CIs")]
MinSliceOpt = Annotated[int, typer.Option(help="battles a category/language slice needs")]
CapOpt = Annotated[int, typer.Option(help="votes counted per visitor per UTC day")]
PromptOpt = Annotated[int, typer.Option(help="battles counted per duplicate prompt")]
JudgeWeightOpt = Annotated[float, typer.Option(
    min=0.0, help="human + judge board: one judge verdict game weighs this many votes (0: "
    "the human board)")]


class TieRule(enum.StrEnum):
    half = "half"
    ignore = "ignore"
    grounded = "grounded"


TiesOpt = Annotated[TieRule | None, typer.Option(
    help="how ties count: half a win each way, left out, or 'both are bad' as a loss to a "
    "usable-answer line (default: ARENA_LEADERBOARD_TIES, else half)")]
ReweightOpt = Annotated[bool, typer.Option(
    help="weight battles by 1/max(battles of their pair, 50) (off: FastChat's unweighted fit)")]


def _params(seed: int, bootstrap: int, min_slice_votes: int, daily_vote_cap: int,
            max_per_prompt: int, reweight: bool = True, judge_weight: float = 0.5,
            ties: str | None = None) -> Any:
    from app.config import get_settings
    from app.leaderboard.configured import configured_params

    return configured_params(
        get_settings(), reweight=reweight, ties=ties,  # type: ignore[arg-type]
        cleaning={"daily_vote_cap": daily_vote_cap, "max_per_prompt": max_per_prompt,
                  "seed": seed},
        seed=seed, n_bootstrap=bootstrap, min_slice_votes=min_slice_votes,
        judge_weight=judge_weight)


def _with_db(fn: Callable[[Any], Awaitable[T]]) -> T:
    """Migrate, then run ``await fn(sessionmaker)`` against the configured database."""
    from app.config import get_settings
    from app.db.migrate import upgrade
    from app.db.session import make_engine, make_sessionmaker

    settings = get_settings()
    upgrade(settings.database_url)

    async def go() -> T:
        engine = make_engine(settings.database_url)
        try:
            return await fn(make_sessionmaker(engine))
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _progress() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("{task.fields[note]}"))


def _fit_hook(progress: Any, task: Any) -> Callable[[int, int, str], None]:
    def hook(done: int, total: int, label: str) -> None:
        progress.update(task, completed=done, total=total, note=label)

    return hook


def _print_board(run: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    rules = ", ".join(f"{r['rule']} {r['dropped']}" for r in run.cleaning["rules"])
    console.print(f"{run.cleaning['kept']} of {run.cleaning['total']} voted battles counted "
                  f"(dropped: {rules})")
    rw = run.params.reweighting.describe()
    console.print("battle weights: " + rw.get("weight", "none (every vote counts once)"))
    board = run.board("default")
    ties = board.payload.get("ties") if board is not None else None
    if ties:
        line = ties.get("line")
        console.print(f"ties: {ties['label']}" + (
            f"; the usable-answer line rates {line['rating']:.0f}" if line else ""))
    if not run.boards:
        console.print("[yellow]No votes yet: nothing to rank.[/]")
        return
    for kind in ("default", "style", "elo"):
        board = run.board(kind)
        if board is None:
            continue
        table = Table(title=f"{kind} · overall ({board.n_battles} battles)")
        for col in ("Rank", "Model", "Rating", "95% CI", "Votes"):
            table.add_column(col, justify="left" if col == "Model" else "right")
        for r in board.payload["rows"]:
            ci = ("–" if r["ci_lower"] is None
                  else f"{r['ci_lower']:.0f} – {r['ci_upper']:.0f}")
            table.add_row(str(r["rank"]), r["model"], f"{r['rating']:.0f}", ci,
                          str(r["votes"]))
        console.print(table)
    if run.skipped_slices:
        console.print("Slices with too few votes: " + ", ".join(
            f"{k} ({v})" for k, v in sorted(run.skipped_slices.items())))


def leaderboard(
    seed: SeedOpt = 0,
    bootstrap: BootstrapOpt = 200,
    min_slice_votes: MinSliceOpt = 300,
    daily_vote_cap: CapOpt = 50,
    max_per_prompt: PromptOpt = 20,
    reweight: ReweightOpt = True,
    judge_weight: JudgeWeightOpt = 0.5,
    ties: TiesOpt = None,
) -> None:
    """Compute every leaderboard now, store it as the snapshot the page shows, print it."""
    from app.leaderboard.pipeline import run_leaderboard

    params = _params(seed, bootstrap, min_slice_votes, daily_vote_cap, max_per_prompt,
                     reweight, judge_weight, ties.value if ties else None)

    async def go(sessionmaker: Any) -> Any:
        with _progress() as progress:
            task = progress.add_task("fitting", total=None, note="")
            run_id, run = await run_leaderboard(sessionmaker, params=params,
                                                progress=_fit_hook(progress, task))
        return run_id, run

    run_id, run = _with_db(go)
    _print_board(run)
    typer.echo(f"stored snapshot run {run_id}")


def _parse_day(value: str | None) -> date:
    if value is None:
        return datetime.now(UTC).date() - timedelta(days=1)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("use YYYY-MM-DD") from None


def _out_root(out: Path | None) -> Path:
    from app.config import get_settings

    return out or get_settings().data_dir / "exports"


def export(
    day: Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD (default: yesterday, "
                                                           "UTC)")] = None,
    out: Annotated[Path | None, typer.Option(help="root folder (default: DATA_DIR/exports)")]
    = None,
    force: Annotated[bool, typer.Option(help="redo a date that is already exported")] = False,
    seed: SeedOpt = 0,
    bootstrap: BootstrapOpt = 200,
    min_slice_votes: MinSliceOpt = 300,
    daily_vote_cap: CapOpt = 50,
    max_per_prompt: PromptOpt = 20,
    reweight: ReweightOpt = True,
    judge_weight: JudgeWeightOpt = 0.5,
    ties: TiesOpt = None,
) -> None:
    """Export one date: snapshot in the DB and OUT/<date>/ with JSON, CSV, plots, HTML,
    battles.parquet and manifest.json. Safe to run from several hosts (one wins)."""
    from app.bench.nightly import export_extra
    from workers.export import ExportProgress, export_date

    target = _parse_day(day)
    root = _out_root(out)
    params = _params(seed, bootstrap, min_slice_votes, daily_vote_cap, max_per_prompt,
                     reweight, judge_weight, ties.value if ties else None)

    async def go(sessionmaker: Any) -> Any:
        with _progress() as progress:
            stage = progress.add_task(f"export {target}", total=3, note="")
            fit = progress.add_task("fitting", total=None, note="")
            files = progress.add_task("files", total=None, note="")
            seen: list[str] = []

            def on_stage(label: str) -> None:
                progress.update(stage, completed=len(seen), note=label)
                seen.append(label)

            def on_file(label: str) -> None:
                progress.update(files, advance=1, note=label)

            outcome = await export_date(
                sessionmaker, target, root, params=params, force=force,
                progress=ExportProgress(fit=_fit_hook(progress, fit), files=on_file,
                                        stage=on_stage),
                extras=[export_extra],
            )
            progress.update(stage, completed=3, note=outcome.status)
            progress.update(files, total=progress.tasks[files].completed)
        return outcome

    outcome = _with_db(go)
    if outcome.status == "skipped":
        typer.echo(f"{target}: already exported or running elsewhere (use --force to redo)")
        return
    rows = outcome.manifest["rows"]
    typer.echo(f"{target}: wrote {outcome.out_dir} ({rows['battles_parquet']} battles, "
               f"{rows['boards']} leaderboards, {len(outcome.manifest['files'])} files)")


def scheduler(
    at: Annotated[str, typer.Option(help="daily run time, HH:MM UTC")] = "03:00",
    out: Annotated[Path | None, typer.Option(help="root folder (default: DATA_DIR/exports)")]
    = None,
    seed: SeedOpt = 0,
    bootstrap: BootstrapOpt = 200,
    min_slice_votes: MinSliceOpt = 300,
    daily_vote_cap: CapOpt = 50,
    max_per_prompt: PromptOpt = 20,
    reweight: ReweightOpt = True,
    judge_weight: JudgeWeightOpt = 0.5,
    ties: TiesOpt = None,
) -> None:
    """Run the nightly export forever: yesterday's date at AT (UTC), catching up on start;
    the leaderboard recomputed every ARENA_LEADERBOARD_REFRESH_S when votes came in; and
    the periodic category pass when the registry configures one."""
    import signal

    from app.bench.nightly import export_extra
    from app.config import get_settings
    from app.leaderboard.refresh import LeaderboardRefresher
    from workers.categorizer import run_categorizer_process
    from workers.export import run_scheduler

    logging.basicConfig(level="INFO",
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run_at = time.fromisoformat(at)
    except ValueError:
        raise typer.BadParameter("use HH:MM") from None
    params = _params(seed, bootstrap, min_slice_votes, daily_vote_cap, max_per_prompt,
                     reweight, judge_weight, ties.value if ties else None)
    root = _out_root(out)

    async def go(sessionmaker: Any) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # Beside the nightly export, the board's refresh between exports (0: off) and the
        # periodic category pass (off without a judge that sets options.categories in the
        # registry, or without Redis to reach it).
        interval = get_settings().leaderboard_refresh_s
        refresher = LeaderboardRefresher(sessionmaker, interval_s=interval, params=params)
        await asyncio.gather(
            run_scheduler(sessionmaker, root, at=run_at, params=params, stop=stop,
                          extras=[export_extra], after_export=_bench_hooks(sessionmaker)),
            run_categorizer_process(get_settings(), sessionmaker, stop),
            *([refresher.run(stop)] if interval > 0 else []),
        )

    _with_db(go)


def _bench_hooks(sessionmaker: Any) -> list[Any]:
    """The bench's nightly part (answer and judge new models, recompute agreement) after
    each export; it needs the workers, so only with Redis."""
    from app.bench.nightly import nightly_hook
    from app.config import get_settings
    from app.queue import make_queue
    from app.storage.blobs import LocalBlobStore

    settings = get_settings()
    if not settings.redis_url:
        logging.getLogger("arena.bench").info("no Redis: the nightly bench run is off")
        return []
    queue = make_queue(settings.redis_url, prefix=settings.redis_prefix,
                       lease_ms=settings.lease_ms)
    return [nightly_hook(sessionmaker, queue, LocalBlobStore(settings.blobs_path))]


def register(cli: typer.Typer) -> None:
    cli.command("leaderboard")(leaderboard)
    cli.command("export")(export)
    cli.command("scheduler")(scheduler)
