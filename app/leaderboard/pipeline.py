"""One leaderboard run end to end: read battles, clean, fit every board, store a snapshot."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.leaderboard.audits import pair_counts, robustness_report, tie_report
from app.leaderboard.compute import LeaderboardParams, LeaderboardRun, compute_leaderboards
from app.leaderboard.data_share import data_share
from app.leaderboard.judge_games import latest_judge_games
from app.leaderboard.latency import model_latency, with_latency
from app.leaderboard.load import load_battle_records, load_model_info, load_ranking_records
from app.leaderboard.snapshots import render_run_plots, store_run
from app.leaderboard.version import code_version

Progress = Callable[[int, int, str], None]


async def compute_run(
    sessionmaker: async_sessionmaker,
    *,
    cutoff: datetime | None = None,
    params: LeaderboardParams = LeaderboardParams(),
    progress: Progress | None = None,
    texts: bool = False,
) -> LeaderboardRun:
    """Read and fit (the fitting runs in a thread so the event loop stays responsive).
    The battles are read for ranking only (no texts in ``run.kept``: a million battles'
    texts do not fit in memory) unless ``texts``, which the export needs for its rows."""
    cutoff = cutoff or datetime.now(UTC)
    async with sessionmaker() as session:
        models = await load_model_info(session)
        records = (await load_battle_records(session, cutoff=cutoff) if texts
                   else await load_ranking_records(session, models, cutoff=cutoff))
        latency = await model_latency(session, cutoff=cutoff)
        share = await data_share(session, cutoff=cutoff)
        judge = await latest_judge_games(session)
    run = await asyncio.to_thread(
        compute_leaderboards, records, models, cutoff=cutoff, code_version=code_version(),
        params=params, progress=progress, judge=judge,
    )
    overall = run.board("default")
    if overall is not None:  # in the snapshot and the export's leaderboard.json
        overall.payload["data_share"] = share
        overall.payload["tie_methods"] = await asyncio.to_thread(
            tie_report, run.kept, params.reweighting)
        overall.payload["robustness"] = await asyncio.to_thread(
            robustness_report, run.kept, params.reweighting)
        overall.payload["pair_counts"] = pair_counts(run.kept)  # adaptive sampling reads it
    return with_latency(run, latency)


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
