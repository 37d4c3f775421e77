"""Operations: the model registry's switches, live queue and worker numbers, errors, daily
activity, disk use, and the state of the leaderboard jobs."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.audit import record
from app.admin.errors import NotFound
from app.db.models import Battle, Generation, ModelEntry, Vote, utcnow
from app.queue import JobQueue
from app.storage.blobs import LocalBlobStore

MAX_WEIGHT = 1000.0



@dataclass
class ModelStatus:
    name: str
    backend: str
    enabled: bool
    weight: float
    outage: bool
    queue_depth: int
    pending_jobs: int  # generations queued or running, from the database
    live_workers: int
    in_flight: int
    tokens_per_s: float | None
    ttft_ms: float | None
    errors_last_hour: int

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def model_status(session: AsyncSession, queue: JobQueue) -> list[ModelStatus]:
    models = (await session.scalars(select(ModelEntry).order_by(ModelEntry.name))).all()
    pending = dict((await session.execute(
        select(Generation.model, func.count())
        .where(Generation.status.in_(("queued", "running")))
        .group_by(Generation.model)
    )).all())
    hour_ago = utcnow() - timedelta(hours=1)
    errors = dict((await session.execute(
        select(Generation.model, func.count())
        .where(Generation.status == "failed",
               func.coalesce(Generation.finished_at, Generation.created_at) >= hour_ago)
        .group_by(Generation.model)
    )).all())
    out = []
    for m in models:
        workers = await queue.live_workers(m.name)
        rates = [w.tokens_per_s for w in workers if w.tokens_per_s]
        ttfts = [w.ttft_ms for w in workers if w.ttft_ms is not None]
        out.append(ModelStatus(
            name=m.name, backend=m.backend, enabled=m.enabled, weight=m.weight,
            outage=m.outage, queue_depth=await queue.depth(m.name),
            pending_jobs=int(pending.get(m.name, 0)), live_workers=len(workers),
            in_flight=sum(w.in_flight for w in workers),
            tokens_per_s=round(sum(rates), 1) if rates else None,
            ttft_ms=round(sum(ttfts) / len(ttfts), 1) if ttfts else None,
            errors_last_hour=int(errors.get(m.name, 0)),
        ))
    return out


def _model_state(m: ModelEntry) -> dict[str, Any]:
    return {"enabled": m.enabled, "weight": m.weight, "outage": m.outage}


async def update_model(
    session: AsyncSession, name: str, actor: str, *, enabled: bool | None = None,
    weight: float | None = None, outage: bool | None = None,
) -> dict[str, Any]:
    """Change a model's switches (None leaves one as it is); audited."""
    m = await session.get(ModelEntry, name, with_for_update=True)
    if m is None:
        raise NotFound("no such model")
    if weight is not None and not 0.0 <= weight <= MAX_WEIGHT:
        raise ValueError(f"weight must be between 0 and {MAX_WEIGHT:g}")
    before = _model_state(m)
    if enabled is not None:
        m.enabled = enabled
    if weight is not None:
        m.weight = float(weight)
    if outage is not None:
        m.outage = outage
    after = _model_state(m)
    if after != before:
        record(session, actor, "model.update", f"model:{name}", before, after)
    await session.commit()
    return after


@dataclass
class DailyActivity:
    days: list[str]
    battles: dict[str, list[int]]  # model → count per day (a battle counts for both models)
    votes: dict[str, list[int]]
    battles_total: list[int]
    votes_total: list[int]


def _day(value: Any) -> str:
    return value.isoformat() if isinstance(value, date | datetime) else str(value)[:10]


async def daily_activity(session: AsyncSession, days: int = 14) -> DailyActivity:
    today = utcnow().date()
    labels = [(today - timedelta(days=i)).isoformat() for i in range(days - 1, -1, -1)]
    since = datetime.combine(today - timedelta(days=days - 1), datetime.min.time()).replace(
        tzinfo=utcnow().tzinfo
    )
    index = {d: i for i, d in enumerate(labels)}
    battles: dict[str, list[int]] = defaultdict(lambda: [0] * days)
    votes: dict[str, list[int]] = defaultdict(lambda: [0] * days)
    b_total, v_total = [0] * days, [0] * days
    b_day = func.date(Battle.created_at)
    for day, a, b, n in (await session.execute(
        select(b_day, Battle.model_a, Battle.model_b, func.count())
        .where(Battle.created_at >= since).group_by(b_day, Battle.model_a, Battle.model_b)
    )).all():
        i = index.get(_day(day))
        if i is None:
            continue
        b_total[i] += n
        for m in {a, b} - {None}:
            battles[m][i] += n
    v_day = func.date(Vote.created_at)
    for day, a, b, n in (await session.execute(
        select(v_day, Battle.model_a, Battle.model_b, func.count())
        .join(Battle, Battle.id == Vote.battle_id)
        .where(Vote.created_at >= since).group_by(v_day, Battle.model_a, Battle.model_b)
    )).all():
        i = index.get(_day(day))
        if i is None:
            continue
        v_total[i] += n
        for m in {a, b} - {None}:
            votes[m][i] += n
    return DailyActivity(labels, dict(battles), dict(votes), b_total, v_total)


async def disk_usage_bytes(blobs: LocalBlobStore) -> int:
    return await asyncio.to_thread(blobs.disk_usage_bytes) if blobs.root.exists() else 0


async def leaderboard_status(session: AsyncSession) -> dict[str, Any] | None:
    """Latest leaderboard snapshot and export run, or None where those tables do not exist."""
    try:
        from app.db.leaderboard_tables import ExportRun, LeaderboardSnapshot
    except ImportError:
        return None
    snap = await session.scalar(
        select(LeaderboardSnapshot).order_by(LeaderboardSnapshot.created_at.desc()).limit(1)
    )
    export = await session.scalar(
        select(ExportRun).order_by(ExportRun.started_at.desc()).limit(1)
    )
    return {
        "snapshot": None if snap is None else {
            "created_at": snap.created_at, "run_id": str(snap.run_id), "kind": snap.kind,
            "slice": snap.slice, "source": snap.source,
            "battles_used": snap.n_battles_used, "battles_total": snap.n_battles_total,
        },
        "export": None if export is None else {
            "date": export.date, "status": export.status, "started_at": export.started_at,
            "finished_at": export.finished_at, "error": export.error,
            "attempts": export.attempts,
        },
    }
