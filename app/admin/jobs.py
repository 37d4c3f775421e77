"""The job view: every generation with its attempts (who ran each, when it started and
ended, how it ended), counts per status and per outcome, work that nobody moves, and the
anomalies that would mean an answer was generated again after it finished.

An anomaly is a generation with an attempt that started after the generation's
`finished_at`, or with more than one attempt that ended `done`. Under the fenced worker
protocol (DESIGN.md, "Reliability rules": a finished generation never changes) there should
be none; this view is where operators see that upheld.

Queries only; pydantic models out, which the JSON API returns as they are. No prompt or
answer text is read: staff see the battle id, model, side and the attempts' records.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer, selectinload

from app.db.models import Generation, GenerationAttempt, ModelEntry, Turn, utcnow

JOB_STATUSES = ("queued", "running", "done", "failed")
UNFINISHED = ("queued", "running")
OUTCOMES = ("running", "done", "failed", "requeued", "released", "superseded", "stale")
WINDOWS = (("1h", timedelta(hours=1)), ("24h", timedelta(days=1)))
MAX_LIMIT = 200
MAX_LISTED = 200  # stuck and anomalous generations shown at most

StatusFilter = Literal["all", "queued", "running", "done", "failed"]


class JobFilter(BaseModel):
    """Which generations the list shows. `model` narrows the whole view (counts, stuck work,
    anomalies); the other filters narrow only the list."""

    model_config = ConfigDict(frozen=True)

    status: StatusFilter = "all"
    model: str | None = None
    retried: bool = False  # only generations with more than one attempt
    anomalies: bool = False  # only anomalous generations
    limit: int = Field(default=50, ge=1, le=MAX_LIMIT)
    offset: int = Field(default=0, ge=0)


class AttemptOut(BaseModel):
    attempt: int
    worker_id: str
    started_at: datetime
    ended_at: datetime | None
    duration_s: float | None  # None while it runs
    outcome: str  # running | done | failed | requeued | released | superseded | stale
    error: str | None
    after_finish: bool  # started after the generation had finished: an anomaly


class JobOut(BaseModel):
    generation_id: uuid.UUID
    battle_id: uuid.UUID
    turn: int
    model: str
    side: str
    status: str
    attempts: int  # the generation's attempt counter (its fencing token)
    worker_id: str | None
    created_at: datetime
    status_at: datetime
    finished_at: datetime | None
    error: str | None
    anomalies: list[str]  # empty unless the answer was generated again after it finished
    attempt_log: list[AttemptOut]


class WindowCounts(BaseModel):
    """Generations created in the window by their status now; attempts started in the
    window by how they ended."""

    window: str
    since: datetime
    statuses: dict[str, int]
    outcomes: dict[str, int]


class JobsView(BaseModel):
    """Response of GET /admin/api/jobs."""

    generated_at: datetime
    filter: JobFilter
    counts: list[WindowCounts]
    stuck_minutes: int
    stuck: list[JobOut]  # queued or running, status unchanged for stuck_minutes or longer
    anomalies: list[JobOut]
    total: int  # generations that match the filter
    has_more: bool
    jobs: list[JobOut]  # newest first, `limit` from `offset`


# ---------------------------------------------------------------- conditions

def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def anomalous() -> ColumnElement[bool]:
    """SQL condition on Generation: an attempt started after it finished, or > 1 done."""
    late = exists().where(
        GenerationAttempt.generation_id == Generation.id,
        Generation.finished_at.is_not(None),
        GenerationAttempt.started_at > Generation.finished_at,
    )
    done = (
        select(func.count()).select_from(GenerationAttempt)
        .where(GenerationAttempt.generation_id == Generation.id,
               GenerationAttempt.outcome == "done")
        .scalar_subquery()
    )
    return or_(late, done > 1)


def retried() -> ColumnElement[bool]:
    """SQL condition on Generation: more than one attempt recorded."""
    tries = (
        select(func.count()).select_from(GenerationAttempt)
        .where(GenerationAttempt.generation_id == Generation.id)
        .scalar_subquery()
    )
    return tries > 1


def _model_condition(model: str | None) -> list[ColumnElement[bool]]:
    return [Generation.model == model] if model else []


def _list_conditions(flt: JobFilter) -> list[ColumnElement[bool]]:
    conds = _model_condition(flt.model)
    if flt.status != "all":
        conds.append(Generation.status == flt.status)
    if flt.retried:
        conds.append(retried())
    if flt.anomalies:
        conds.append(anomalous())
    return conds


# ---------------------------------------------------------------- rows out

def attempt_anomalies(finished_at: datetime | None,
                      attempts: list[AttemptOut]) -> list[str]:
    """The same rule as `anomalous()`, said in words, for one generation's attempts."""
    out = [f"attempt {a.attempt} started after the answer finished"
           for a in attempts if a.after_finish]
    done = sum(a.outcome == "done" for a in attempts)
    if done > 1:
        out.append(f"{done} attempts ended done")
    return out


def _attempt_out(a: GenerationAttempt, finished_at: datetime | None) -> AttemptOut:
    started, ended = _aware(a.started_at), _aware(a.ended_at)
    assert started is not None
    return AttemptOut(
        attempt=a.attempt, worker_id=a.worker_id, started_at=started, ended_at=ended,
        duration_s=round((ended - started).total_seconds(), 3) if ended else None,
        outcome=a.outcome, error=a.error,
        after_finish=finished_at is not None and started > finished_at,
    )


def _job_out(g: Generation, battle_id: uuid.UUID, turn: int) -> JobOut:
    finished = _aware(g.finished_at)
    log = [_attempt_out(a, finished) for a in g.attempt_log]
    return JobOut(
        generation_id=g.id, battle_id=battle_id, turn=turn, model=g.model, side=g.side,
        status=g.status, attempts=g.attempts, worker_id=g.worker_id,
        created_at=_aware(g.created_at), status_at=_aware(g.status_at), finished_at=finished,
        error=g.error, anomalies=attempt_anomalies(finished, log), attempt_log=log,
    )


async def _jobs(session: AsyncSession, conds: list[ColumnElement[bool]], order: Any,
                limit: int, offset: int = 0) -> list[JobOut]:
    rows = (await session.execute(
        select(Generation, Turn.battle_id, Turn.index)
        .join(Turn, Turn.id == Generation.turn_id)
        .options(selectinload(Generation.attempt_log), defer(Generation.text),
                 defer(Generation.params))
        .where(and_(True, *conds))
        .order_by(*order, Generation.id)
        .limit(limit).offset(offset)
    )).all()
    return [_job_out(g, battle_id, turn) for g, battle_id, turn in rows]


# ---------------------------------------------------------------- queries

async def recent_jobs(session: AsyncSession, flt: JobFilter) -> tuple[int, list[JobOut]]:
    """(how many match, the page of them newest first) with their attempts."""
    conds = _list_conditions(flt)
    total = await session.scalar(
        select(func.count()).select_from(Generation).where(and_(True, *conds))
    )
    jobs = await _jobs(session, conds, (Generation.created_at.desc(),), flt.limit,
                       flt.offset)
    return int(total or 0), jobs


async def window_counts(session: AsyncSession, model: str | None = None,
                        now: datetime | None = None) -> list[WindowCounts]:
    """Per window (last hour, last day): generations created by status, attempts started
    by outcome (every status and outcome listed, zeros included)."""
    now = now or utcnow()
    out = []
    for label, span in WINDOWS:
        since = now - span
        statuses = dict.fromkeys(JOB_STATUSES, 0)
        for status, n in (await session.execute(
            select(Generation.status, func.count())
            .where(Generation.created_at >= since, *_model_condition(model))
            .group_by(Generation.status)
        )).all():
            statuses[status] = int(n)
        outcomes = dict.fromkeys(OUTCOMES, 0)
        for outcome, n in (await session.execute(
            select(GenerationAttempt.outcome, func.count())
            .join(Generation, Generation.id == GenerationAttempt.generation_id)
            .where(GenerationAttempt.started_at >= since, *_model_condition(model))
            .group_by(GenerationAttempt.outcome)
        )).all():
            outcomes[outcome] = int(n)
        out.append(WindowCounts(window=label, since=since, statuses=statuses,
                                outcomes=outcomes))
    return out


async def stuck_jobs(session: AsyncSession, minutes: int, model: str | None = None,
                     now: datetime | None = None) -> list[JobOut]:
    """Queued or running generations whose status has not changed for `minutes`, oldest
    first."""
    cutoff = (now or utcnow()) - timedelta(minutes=minutes)
    conds = [Generation.status.in_(UNFINISHED), Generation.status_at <= cutoff,
             *_model_condition(model)]
    return await _jobs(session, conds, (Generation.status_at,), MAX_LISTED)


async def anomalous_jobs(session: AsyncSession, model: str | None = None) -> list[JobOut]:
    """Generations whose answer was generated again after it finished, newest first."""
    conds = [anomalous(), *_model_condition(model)]
    return await _jobs(session, conds, (Generation.created_at.desc(),), MAX_LISTED)


async def job_models(session: AsyncSession) -> list[str]:
    """The registry's model names, for the model filter."""
    return list((await session.scalars(select(ModelEntry.name).order_by(ModelEntry.name))).all())


async def jobs_view(session: AsyncSession, flt: JobFilter, stuck_minutes: int = 10,
                    now: datetime | None = None) -> JobsView:
    now = now or utcnow()
    total, jobs = await recent_jobs(session, flt)
    return JobsView(
        generated_at=now, filter=flt,
        counts=await window_counts(session, flt.model, now),
        stuck_minutes=stuck_minutes,
        stuck=await stuck_jobs(session, stuck_minutes, flt.model, now),
        anomalies=await anomalous_jobs(session, flt.model),
        total=total, has_more=flt.offset + len(jobs) < total, jobs=jobs,
    )
