"""`arena judge …`: the judge layer from a terminal (registered on the main CLI).

    arena judge templates            the task templates (name@version, kind, inputs)
    arena judge runs                 runs with progress, tokens and failures
    arena judge show RUN [--follow]  one run: progress bar (until done with --follow),
                                     its failed and unparsable judgments
    arena judge resume RUN           enqueue the run's judgments that no queue holds

RUN is a run id or an unambiguous prefix of one. With Redis (ARENA_REDIS_URL) the jobs go
to the deployment's workers; without it (the embedded default) the commands that need a
judge start it in this process (`local_judges`) and wait until the run is done. Heavy
imports happen inside the commands so `arena --help` stays fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from app.config import Settings
    from app.judges.runs import RunProgress
    from app.queue import JobQueue

T = TypeVar("T")

app = typer.Typer(help="Judge runs: templates, runs, progress, resume.", no_args_is_help=True)

RunArg = Annotated[str, typer.Argument(help="run id (or an unambiguous prefix)")]
LocalOpt = Annotated[bool | None, typer.Option(
    "--local-worker/--no-local-worker",
    help="run the judge in this process (default: only without ARENA_REDIS_URL)")]
TimeoutOpt = Annotated[float | None, typer.Option(help="stop following after this many "
                                                       "seconds (the run goes on)")]


class CliFailure(Exception):
    """A clear message for the terminal; the command exits with status 1."""


def fail(message: str) -> typer.Exit:
    typer.secho(message, err=True, fg="red")
    return typer.Exit(1)


def with_db(fn: Callable[[Any, Any], Awaitable[T]]) -> T:
    """Migrate, then run ``await fn(settings, sessionmaker)`` on the configured database.
    A CliFailure, or an error of the judge layer (a bad set, an offline judge …), ends the
    command with its message and status 1."""
    from app.config import get_settings
    from app.db.migrate import upgrade
    from app.db.session import make_engine, make_sessionmaker

    settings = get_settings()
    upgrade(settings.database_url)

    async def go() -> T:
        engine = make_engine(settings.database_url)
        try:
            return await fn(settings, make_sessionmaker(engine))
        finally:
            await engine.dispose()

    from app.judges.categories import CategoryConfigError
    from app.judges.runs import RunError
    from app.judges.templates import TemplateError, TemplateInputError, UnknownTemplate

    try:
        return asyncio.run(go())
    except (CliFailure, CategoryConfigError, RunError, TemplateError, TemplateInputError,
            UnknownTemplate) as exc:
        raise fail(str(exc)) from None


def progress_display() -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("{task.fields[note]}"))


def progress_note(p: RunProgress) -> str:
    return (f"{p.prompt_tokens + p.completion_tokens} tokens · {p.failed} failed · "
            f"{p.parse_failures} unparsable")


@contextlib.asynccontextmanager
async def local_judges(
    settings: Settings, sessionmaker: async_sessionmaker, judges: Sequence[str],
    *, local: bool | None = None, start_timeout_s: float = 120.0,
) -> AsyncIterator[JobQueue]:
    """The queue judge jobs go to: the deployment's Redis, or (without Redis, or with
    `local=True`) an in-process queue with a worker per judge, stopped on exit."""
    from app.db.models import ModelEntry
    from app.queue import make_queue
    from app.queue.memory_queue import MemoryQueue
    from app.storage.blobs import LocalBlobStore
    from workers.engines.base import EngineConfig
    from workers.engines.factory import make_engine as make_model_engine
    from workers.worker import Worker, settings_options

    use_local = (not settings.redis_url) if local is None else local
    if not use_local:
        queue = make_queue(settings.redis_url, prefix=settings.redis_prefix,
                           lease_ms=settings.lease_ms, stream_maxlen=settings.stream_maxlen,
                           stream_ttl_s=settings.stream_ttl_s)
        try:
            yield queue
        finally:
            await queue.close()
        return
    queue = MemoryQueue(lease_ms=settings.lease_ms)
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    try:
        for name in dict.fromkeys(judges):
            async with sessionmaker() as session:
                entry = await session.get(ModelEntry, name)
            if entry is None:
                raise CliFailure(f"unknown model {name!r}: add it to the registry (models.yaml) "
                                 "and start the arena once to sync it")
            engine = make_model_engine(EngineConfig(name=entry.name, backend=entry.backend,
                                                    path=entry.path, options=entry.options))
            await engine.start()
            worker = Worker(model=entry.name, engine=engine, queue=queue,
                            sessionmaker=sessionmaker, blobs=LocalBlobStore(settings.blobs_path),
                            concurrency=entry.concurrency, **settings_options(settings))
            tasks.append(asyncio.create_task(worker.run(stop, start_engine=False),
                                             name=f"judge-{entry.name}"))
            deadline = asyncio.get_running_loop().time() + start_timeout_s
            while not await queue.live_workers(entry.name):
                if asyncio.get_running_loop().time() > deadline:
                    raise CliFailure(f"the local worker for {entry.name!r} did not start")
                await asyncio.sleep(0.05)
        yield queue
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, settings.worker_grace_s + 5)
        await queue.close()


async def find_run(session: Any, text: str) -> Any:
    """A run by id or by an unambiguous id prefix."""
    from sqlalchemy import select

    from app.db.judge_tables import JudgeRun

    text = text.strip().lower()
    try:
        run = await session.get(JudgeRun, uuid.UUID(text))
    except ValueError:
        run = None
        if len(text) < 4:
            raise CliFailure("give at least 4 characters of the run id") from None
        ids = [i for i in (await session.scalars(
            select(JudgeRun.id).order_by(JudgeRun.created_at.desc()).limit(5000))).all()
            if str(i).startswith(text) or i.hex.startswith(text)]
        if len(ids) > 1:
            raise CliFailure(f"{text!r} matches {len(ids)} runs: give more of the id") from None
        if ids:
            run = await session.get(JudgeRun, ids[0])
    await session.commit()
    if run is None:
        raise CliFailure(f"no judge run {text!r} (see `arena judge runs`)")
    return run


async def follow_run(
    sessionmaker: async_sessionmaker, run_id: uuid.UUID, *, description: str,
    poll_s: float = 0.5, timeout_s: float | None = None,
) -> RunProgress:
    """A progress bar until every judgment of the run has finished (or `timeout_s`)."""
    from app.judges.runs import close_if_complete

    loop = asyncio.get_running_loop()
    deadline = None if timeout_s is None else loop.time() + timeout_s
    with progress_display() as display:
        bar = display.add_task(description, total=None, note="")
        while True:
            async with sessionmaker() as session:
                p = await close_if_complete(session, run_id)
            display.update(bar, total=p.total, completed=p.finished, note=progress_note(p))
            if p.complete or (deadline is not None and loop.time() > deadline):
                return p
            await asyncio.sleep(poll_s)


async def apply_if_categories(sessionmaker: async_sessionmaker, run: Any) -> str | None:
    """A finished category run switches its battles' labels (what the categorizer would do
    on its next tick); a line saying so, or None."""
    from app.judges.categories import RUN_KIND, apply_finished

    if run.kind != RUN_KIND:
        return None
    async with sessionmaker() as session:
        applied = await apply_finished(session, [run.id])
    if not applied:
        return None
    a = applied[0]
    counts = ", ".join(f"{k} {v}" for k, v in sorted(a.decisions.items()))
    return f"labels decided ({counts}); {a.switched} battles switched"


# ---------------------------------------------------------------- commands

@app.command("templates")
def templates() -> None:
    """List the task templates (name@version) with their kind, parser and inputs."""
    from rich.console import Console
    from rich.table import Table

    from app.judges.templates import default_registry

    table = Table(title="Judge task templates")
    for col in ("Template", "Kind", "Parser", "Inputs", "Sampling (full)", "Description"):
        table.add_column(col)
    for t in default_registry():
        inputs = ", ".join(f"{s.name}{'' if s.required else '?'}:{s.type}" for s in t.inputs)
        s = t.sampling("full")
        table.add_row(t.id, t.kind, t.parser, inputs,
                      f"T={s.temperature:g}, max {s.max_tokens}", " ".join(t.description.split()))
    Console().print(table)


@app.command("runs")
def runs(
    limit: Annotated[int, typer.Option(min=1, max=200, help="runs shown")] = 20,
    kind: Annotated[str | None, typer.Option(help="only runs of this kind")] = None,
) -> None:
    """List the latest runs: progress, tokens (prompt + completion) and failures."""
    from app.admin.judge_runs import list_run_views

    async def go(settings: Any, sessionmaker: Any) -> list[Any]:
        async with sessionmaker() as session:
            return await list_run_views(session, limit, kind)

    rows = with_db(go)
    if not rows:
        typer.echo("no judge runs yet")
        return
    typer.echo(f"{'run':<8}  {'created (UTC)':<14}  {'kind':<12}  {'status':<7}  "
               f"{'finished':>8}  {'tokens':>7}  {'failed':>6}  {'unparsable':>10}  label")
    for r in rows:
        p = r.progress
        typer.echo(f"{str(r.id)[:8]}  {r.created_at:%m-%d %H:%M:%S}  {r.kind[:12]:<12}  "
                   f"{r.status:<7}  {f'{p.finished}/{p.total}':>8}  {r.tokens:>7}  "
                   f"{p.failed:>6}  {p.parse_failures:>10}  {r.label}")
    typer.echo("(RUN: an id prefix is enough for `arena judge show RUN`)")


@app.command("show")
def show(
    run: RunArg,
    follow: Annotated[bool, typer.Option("--follow", "-f",
                                         help="show a progress bar until the run is done")]
    = False,
    failures: Annotated[int, typer.Option(min=0, max=200, help="failures listed")] = 10,
    timeout: TimeoutOpt = None,
) -> None:
    """One run: its progress (a bar until done with --follow), cost and failures."""
    from app.admin.judge_runs import run_detail

    async def go(settings: Any, sessionmaker: Any) -> Any:
        async with sessionmaker() as session:
            found = await find_run(session, run)
        if follow:
            p = await follow_run(sessionmaker, found.id, description=found.label[:60],
                                 timeout_s=timeout)
            note = await apply_if_categories(sessionmaker, found) if p.complete else None
            if note:
                typer.echo(note)
        async with sessionmaker() as session:
            return await run_detail(session, found.id, limit=max(1, failures))

    detail = with_db(go)
    _print_detail(detail, failures)


def _print_detail(detail: Any, failures: int) -> None:
    r, p = detail.run, detail.run.progress
    typer.echo(f"run {r.id} · {r.kind} · {r.status} · {r.label}")
    typer.echo(f"  {p.finished}/{p.total} finished: {p.done} answered, {p.failed} failed, "
               f"{p.parse_failures} unparsable; {p.queued} queued, {p.running} running")
    typer.echo(f"  cost: {r.tokens} tokens ({p.prompt_tokens} prompt, "
               f"{p.completion_tokens} completion)")
    if detail.label_decisions:
        typer.echo("  labels: " + ", ".join(f"{k} {v}" for k, v in
                                            sorted(detail.label_decisions.items())))
    if detail.failures_total and failures:
        typer.echo(f"  failures ({detail.failures_total}):")
        for f in detail.failures[:failures]:
            why = f.error or f.parse_error or ""
            raw = (f.raw_output or "").replace("\n", "\\n")[:120]
            typer.echo(f"    {f.id} {f.status}: {why} · raw: {raw!r}")


@app.command("resume")
def resume(
    run: RunArg,
    follow: Annotated[bool | None, typer.Option(
        "--follow/--no-follow", help="wait until the run is done (always with a local "
                                     "worker)")] = None,
    local_worker: LocalOpt = None,
    timeout: TimeoutOpt = None,
) -> None:
    """Enqueue the run's waiting judgments that no queue holds; finished ones stay.

    For a run stopped midway, or work that Redis lost.
    """
    from sqlalchemy import select

    from app.db.judge_tables import Judgment
    from app.judges.runs import enqueue_waiting

    async def go(settings: Any, sessionmaker: Any) -> None:
        async with sessionmaker() as session:
            found = await find_run(session, run)
            judges = list((await session.scalars(
                select(Judgment.judge_model).where(Judgment.run_id == found.id).distinct()
            )).all())
            await session.commit()
        local = (not settings.redis_url) if local_worker is None else local_worker
        async with local_judges(settings, sessionmaker, judges if local else [],
                                local=local) as queue:
            async with sessionmaker() as session:
                n = await enqueue_waiting(session, queue, found.id)
            typer.echo(f"run {found.id}: {n} judgment(s) enqueued")
            if local or follow:
                p = await follow_run(sessionmaker, found.id, description=found.label[:60],
                                     timeout_s=timeout)
                typer.echo(f"{p.finished}/{p.total} finished · {progress_note(p)}")
                if p.complete:
                    note = await apply_if_categories(sessionmaker, found)
                    if note:
                        typer.echo(note)

    with_db(go)


def register(cli: typer.Typer) -> None:
    cli.add_typer(app, name="judge")
