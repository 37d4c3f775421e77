"""The leaderboard refresher on the real PostgreSQL: a burst of pokes is one recompute a
debounce later; the interval recomputes only when votes came in since the last snapshot."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.db.leaderboard_tables import LeaderboardSnapshot
from app.leaderboard.compute import LeaderboardParams
from app.leaderboard.refresh import SOURCE, LeaderboardRefresher, votes_since_snapshot
from tests.leaderboard.simulate import (
    STRENGTHS,
    add_models,
    add_visitors,
    insert_battles,
    random_battles,
)

FAST = LeaderboardParams(n_bootstrap=20)


async def _refresh_runs(sm: async_sessionmaker) -> int:
    async with sm() as session:
        return int(
            await session.scalar(
                select(func.count(func.distinct(LeaderboardSnapshot.run_id))).where(
                    LeaderboardSnapshot.source == SOURCE
                )
            )
            or 0
        )


async def _vote(
    sm: async_sessionmaker, visitors: list[uuid.UUID], n: int, seed: int, start: datetime
) -> None:
    async with sm() as session:
        await insert_battles(
            session, random_battles(n, seed=seed, visitors=visitors, start=start, spacing_s=0.001)
        )


async def _runs_reach(sm: async_sessionmaker, n: int) -> None:
    for _ in range(400):  # 20 s; a run with 20 bootstrap rounds takes well under 2 s
        if await _refresh_runs(sm) >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"refresh run {n} did not happen in 20 s")


@pytest.fixture
async def start() -> AsyncIterator[Callable[[LeaderboardRefresher], None]]:
    """`start(refresher)` runs it in the background until the test ends."""
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    yield lambda refresher: tasks.append(asyncio.create_task(refresher.run(stop)))
    stop.set()
    for task in tasks:
        await asyncio.wait_for(task, 30)


async def test_pokes_within_the_debounce_make_one_recompute(
    lb_sm: async_sessionmaker, start: Callable[[LeaderboardRefresher], None]
) -> None:
    async with lb_sm() as session:
        await add_models(session, sorted(STRENGTHS))
        visitors = await add_visitors(session, 20)
    await _vote(lb_sm, visitors, 30, seed=1, start=datetime.now(UTC) - timedelta(minutes=10))
    refresher = LeaderboardRefresher(lb_sm, debounce_s=0.5, params=FAST)
    start(refresher)
    for _ in range(5):
        refresher.poke()
        await asyncio.sleep(0.05)
    await _runs_reach(lb_sm, 1)
    await asyncio.sleep(1.0)  # nothing else pending: no second run
    assert refresher.runs == 1 and await _refresh_runs(lb_sm) == 1
    async with lb_sm() as session:
        assert not await votes_since_snapshot(session)
        latest = await session.scalar(
            select(LeaderboardSnapshot).where(
                LeaderboardSnapshot.source == SOURCE,
                LeaderboardSnapshot.kind == "default",
                LeaderboardSnapshot.slice == "overall",
            )
        )
    assert latest is not None and latest.n_battles_used == 30

    refresher.poke()  # a later vote: another run
    await _runs_reach(lb_sm, 2)


async def test_the_interval_recomputes_only_after_new_votes(
    lb_sm: async_sessionmaker, start: Callable[[LeaderboardRefresher], None]
) -> None:
    async with lb_sm() as session:
        visitors = await add_visitors(session, 5)
        assert not await votes_since_snapshot(session)  # the first test's runs cover all
    before = await _refresh_runs(lb_sm)
    refresher = LeaderboardRefresher(lb_sm, interval_s=0.3, params=FAST)
    start(refresher)
    await asyncio.sleep(1.2)  # several intervals, no new vote
    assert refresher.runs == 0
    await _vote(lb_sm, visitors, 10, seed=2, start=datetime.now(UTC))
    async with lb_sm() as session:
        assert await votes_since_snapshot(session)
    await _runs_reach(lb_sm, before + 1)
    await asyncio.sleep(1.0)  # the new snapshot covers them: no further run
    assert refresher.runs == 1
