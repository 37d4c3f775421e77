"""Recovers work that no queue holds: PostgreSQL says what must run, Redis may forget.

A generation is `queued` or `running` in the database while the queue has no job for it
when Redis restarted without its data, when the process crashed between committing a
battle and enqueueing its jobs, when a re-enqueue failed, or when the embedded default
(whose queue lives in memory) restarted. Such a generation would never finish, its battle
could never be voted on, and its visitor's in-flight cap would stay used. Every worker
runs this at start and then periodically for its own model; a lock in the queue keeps it
to one sweep per model at a time, and the grace period keeps it away from work that is
merely between its commit and its enqueue.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.queue import JobQueue
from workers import job_store, judgment_store

log = logging.getLogger("arena.sweeper")


@dataclass(frozen=True)
class SweepReport:
    requeued: int = 0
    failed: int = 0
    redrawn: int = 0  # first-turn sides given to another model (app/arena/redraw.py)
    skipped: bool = False  # another process holds the sweep lock


# What the sweeper looks after: (store module, queue lane, job kind).
SWEPT = ((job_store, "live", "generation"), (judgment_store, "batch", "judgment"))


async def sweep(
    queue: JobQueue,
    sessionmaker: async_sessionmaker,
    model: str,
    *,
    grace_s: float,
    max_attempts: int,
    lock_ttl_ms: int = 30_000,
) -> SweepReport:
    if not await queue.try_lock(f"sweep:{model}", lock_ttl_ms):
        return SweepReport(skipped=True)
    outcomes: Counter[str] = Counter()
    for store, lane, kind in SWEPT:
        async with sessionmaker() as session:
            stale = await store.unfinished_before(session, model, grace_s)
        if not stale:
            continue
        held = await queue.held(model, lane=lane)
        for row in stale:
            if str(row.id) in held:
                continue  # a job exists; a dead holder's lease runs out and another reclaims it
            # A generation out of attempts may be re-drawn (the store announces it).
            redraw = {"queue": queue} if kind == "generation" else {}
            async with sessionmaker() as session:
                outcome = await store.recover(
                    session, row, max_attempts=max_attempts, reason="the queue lost this job",
                    **redraw,
                )
            if outcome == "requeued":
                await queue.enqueue(model, str(row.id), lane=lane, kind=kind)
            if outcome:
                outcomes[outcome] += 1
    report = SweepReport(requeued=outcomes["requeued"], failed=outcomes["failed"],
                         redrawn=outcomes["redrawn"])
    if report.requeued or report.failed or report.redrawn:
        log.warning("sweeper for %s: requeued %d, failed %d, re-drew %d jobs that no queue "
                    "held", model, report.requeued, report.failed, report.redrawn)
    return report
