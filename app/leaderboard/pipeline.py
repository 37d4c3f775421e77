"""One leaderboard run end to end: read battles, clean, fit every board, store a snapshot."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.leaderboard.compute import LeaderboardParams, LeaderboardRun, compute_leaderboards
from app.leaderboard.load import load_battle_records, load_model_info
from app.leaderboard.snapshots import render_run_plots, store_run
from app.leaderboard.version import code_version

Progress = Callable[[int, int, str], None]


async def compute_run(
    sessionmaker: async_sessionmaker,
    *,
    cutoff: datetime | None = None,
    params: LeaderboardParams = LeaderboardParams(),
    progress: Progress | None = None,
) -> LeaderboardRun:
    """Read and fit (the fitting runs in a thread so the event loop stays responsive)."""
    cutoff = cutoff or datetime.now(UTC)
    async with sessionmaker() as session:
        records = await load_battle_records(session, cutoff=cutoff)
        models = await load_model_info(session)
    return await asyncio.to_thread(
        compute_leaderboards, records, models, cutoff=cutoff, code_version=code_version(),
        params=params, progress=progress,
    )


async def run_leaderboard(
    sessionmaker: async_sessionmaker,
    *,
    cutoff: datetime | None = None,
    params: LeaderboardParams = LeaderboardParams(),
    source: str = "cli",
    progress: Progress | None = None,
) -> tuple[uuid.UUID, LeaderboardRun]:
    """Compute every board and store them as one snapshot run; returns its run id."""
    run = await compute_run(sessionmaker, cutoff=cutoff, params=params, progress=progress)
    plots = await asyncio.to_thread(render_run_plots, run)
    async with sessionmaker() as session:
        run_id = await store_run(session, run, source=source, plots=plots)
    return run_id, run
