"""The nightly export job and the scheduler loop that runs it (`arena export`, `arena
scheduler`; cron can call `arena export` instead of running the scheduler).

An export of date D counts the votes cast before D+1 00:00 UTC, stores the leaderboards as
a snapshot (source "export") and writes ``<out>/<D>/``. The ``export_runs`` row for D is the
lock, so any number of schedulers can run: one exports, the others skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.leaderboard.compute import LeaderboardParams, LeaderboardRun
from app.leaderboard.export import render_export_plots, snapshot_svgs, write_export
from app.leaderboard.export_runs import claim_export, fail_export, finish_export, new_owner
from app.leaderboard.pipeline import compute_run
from app.leaderboard.snapshots import store_run

log = logging.getLogger("arena.export")

# More files for a date's export, computed from the same run (the bench's results with their
# agreement against this leaderboard): relative path -> bytes.
ExtraFiles = Callable[[async_sessionmaker, LeaderboardRun], Awaitable[dict[str, bytes]]]


@dataclass
class ExportOutcome:
    day: date
    status: str  # done | skipped
    out_dir: Path | None = None
    manifest: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExportProgress:
    """Hooks for a progress display; every one is optional."""

    fit: Callable[[int, int, str], None] | None = None  # boards fitted / total
    files: Callable[[str], None] | None = None  # one call per file group written
    stage: Callable[[str], None] | None = None


def day_cutoff(day: date) -> datetime:
    """Votes strictly before the end of ``day`` (UTC) belong to that day's export."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


async def export_date(
    sessionmaker: async_sessionmaker,
    day: date,
    out_root: Path,
    *,
    params: LeaderboardParams = LeaderboardParams(),
    force: bool = False,
    progress: ExportProgress | None = None,
    stale_after: timedelta = timedelta(hours=2),
    extras: Sequence[ExtraFiles] = (),
) -> ExportOutcome:
    """Export one date unless another run holds it or (without ``force``) it is done."""
    progress = progress or ExportProgress()
    owner = new_owner()
    async with sessionmaker() as session:
        if not await claim_export(session, day, owner, force=force, stale_after=stale_after):
            log.info("export of %s is done or running elsewhere; skipped", day)
            return ExportOutcome(day, "skipped")
    try:
        if progress.stage:
            progress.stage("reading and fitting")
        run = await compute_run(sessionmaker, cutoff=day_cutoff(day), params=params,
                                progress=progress.fit, texts=True)  # the rows need texts
        if progress.stage:
            progress.stage("drawing plots, storing the snapshot")
        plots = await asyncio.to_thread(render_export_plots, run)
        async with sessionmaker() as session:
            await store_run(session, run, source="export", plots=snapshot_svgs(plots))
        extra_files: dict[str, bytes] = {}
        for extra in extras:
            extra_files.update(await extra(sessionmaker, run))
        if progress.stage:
            progress.stage("writing files")
        manifest = await asyncio.to_thread(write_export, run, out_root, day, plots=plots,
                                           progress=progress.files, extra_files=extra_files)
        out_dir = out_root / day.isoformat()
        async with sessionmaker() as session:
            await finish_export(session, day, owner, out_dir=str(out_dir), manifest=manifest)
    except BaseException as exc:
        async with sessionmaker() as session:
            await fail_export(session, day, owner, "".join(traceback.format_exception(exc)))
        raise
    log.info("exported %s to %s", day, out_dir)
    return ExportOutcome(day, "done", out_dir, manifest)


def due_day(now: datetime, at: time) -> date:
    """The latest date whose export is due at ``now``: yesterday once today's run time has
    passed, else the day before yesterday."""
    shifted = now.astimezone(UTC) - timedelta(hours=at.hour, minutes=at.minute)
    return shifted.date() - timedelta(days=1)


def next_run(now: datetime, at: time) -> datetime:
    today = datetime.combine(now.astimezone(UTC).date(), at, tzinfo=UTC)
    return today if today > now else today + timedelta(days=1)


async def run_scheduler(
    sessionmaker: async_sessionmaker,
    out_root: Path,
    *,
    at: time = time(3, 0),
    params: LeaderboardParams = LeaderboardParams(),
    stop: asyncio.Event | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    retry_after_s: float = 600.0,
    extras: Sequence[ExtraFiles] = (),
    after_export: Sequence[Callable[[ExportOutcome], Awaitable[object]]] = (),
) -> None:
    """Export the due date (catching up after downtime), then sleep until ``at`` UTC.
    A failed export is retried after ``retry_after_s``; a date already done is skipped.
    ``after_export`` hooks run after each export that was done here (the bench's nightly
    part); a failing hook is logged and does not fail the export."""
    stop = stop or asyncio.Event()
    while not stop.is_set():
        day = due_day(now(), at)
        wait: float
        try:
            outcome = await export_date(sessionmaker, day, out_root, params=params,
                                        extras=extras)
            if outcome.status == "done":
                for hook in after_export:
                    try:
                        await hook(outcome)
                    except Exception:
                        log.exception("after-export hook %r failed", hook)
            wait = max(1.0, (next_run(now(), at) - now()).total_seconds())
        except Exception:
            log.exception("export of %s failed; retrying in %.0f s", day, retry_after_s)
            wait = retry_after_s
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=wait)
