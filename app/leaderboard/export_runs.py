"""The export lock: one ``export_runs`` row per date, claimed by an atomic statement.

A run claims a date by inserting its row (``ON CONFLICT DO NOTHING``) or, if the row
exists, by one conditional ``UPDATE`` that only matches a failed run, a stale running one
(its owner died), or, with ``force``, a finished one. Both are single statements, so on
PostgreSQL (row locks, re-checked after a concurrent commit) and on SQLite (one writer at a
time) exactly one of two concurrent claimers wins. No Redis or advisory lock is needed.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.dialect import insert_for
from app.db.leaderboard_tables import ExportRun


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def claim_export(session: AsyncSession, day: date, owner: str, *, force: bool = False,
                       stale_after: timedelta = timedelta(hours=2)) -> bool:
    """True if this owner now holds the date (and must finish or fail it)."""
    now = datetime.now(UTC)
    insert = insert_for(session)
    result = await session.execute(
        insert(ExportRun)
        .values(date=day, status="running", owner=owner, started_at=now, attempts=1)
        .on_conflict_do_nothing(index_elements=["date"])
    )
    if result.rowcount == 1:
        await session.commit()
        return True
    claimable = [ExportRun.status == "failed",
                 (ExportRun.status == "running") & (ExportRun.started_at < now - stale_after)]
    if force:
        claimable.append(ExportRun.status == "done")
    result = await session.execute(
        update(ExportRun)
        .where(ExportRun.date == day, or_(*claimable))
        .values(status="running", owner=owner, started_at=now, finished_at=None, error=None,
                attempts=ExportRun.attempts + 1)
    )
    await session.commit()
    return result.rowcount == 1


async def finish_export(session: AsyncSession, day: date, owner: str, *, out_dir: str,
                        manifest: dict[str, Any]) -> None:
    await session.execute(
        update(ExportRun).where(ExportRun.date == day, ExportRun.owner == owner)
        .values(status="done", finished_at=datetime.now(UTC), out_dir=out_dir,
                manifest=manifest)
    )
    await session.commit()


async def fail_export(session: AsyncSession, day: date, owner: str, error: str) -> None:
    await session.execute(
        update(ExportRun).where(ExportRun.date == day, ExportRun.owner == owner)
        .values(status="failed", finished_at=datetime.now(UTC), error=error[:10_000])
    )
    await session.commit()


async def export_status(session: AsyncSession, day: date) -> ExportRun | None:
    return await session.scalar(select(ExportRun).where(ExportRun.date == day))
