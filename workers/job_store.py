"""The worker's database statements: few, small and in Core, because they run once per
job at the start and end of every answer and their cost shows in time to first token.

The attempt number is the fencing token. `begin_attempt` takes a new one; every later
write names it and matches only while that attempt is still the generation's current one
and the generation is still running. A worker that stalled past its lease and woke up
after another took over therefore can not save, fail or requeue anything: its statements
match no row. A finished generation never changes (a trigger refuses it as well).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.arena.redraw import Redrawn, announce, redraw_failed_side
from app.db.models import Battle, Generation, GenerationAttempt, ModelEntry, Turn
from app.leaderboard.mentions_store import mentions_to_store, model_identity_words
from app.leaderboard.style_store import style_to_store
from app.queue import JobQueue
from workers.engines.base import ChatMessage

UNFINISHED = ("queued", "running")


@dataclass(frozen=True)
class JobContext:
    generation_id: uuid.UUID
    attempt: int
    params: dict[str, Any]
    image_sha256: str | None
    messages: list[ChatMessage]
    base: int = 0  # the attempts before this side's model was re-drawn (none: 0)

    @property
    def tries(self) -> int:
        """This attempt's number among the current model's."""
        return self.attempt - self.base


def _now() -> datetime:
    return datetime.now(UTC)


def _uuid(generation_id: str | uuid.UUID) -> uuid.UUID | None:
    try:
        return generation_id if isinstance(generation_id, uuid.UUID) else uuid.UUID(generation_id)
    except ValueError:
        return None


async def begin_attempt(
    session: AsyncSession, generation_id: str, worker_id: str
) -> JobContext | None:
    """Take the next attempt of an unfinished generation (superseding a running one whose
    lease ran out), record it, and read the conversation this side has seen.
    None: nothing to do (finished, failed, unknown)."""
    gid = _uuid(generation_id)
    if gid is None:
        return None
    now = _now()
    row = (
        await session.execute(
            update(Generation)
            .where(Generation.id == gid, Generation.status.in_(UNFINISHED))
            .values(attempts=Generation.attempts + 1, status="running", worker_id=worker_id,
                    status_at=now)
            .returning(Generation.attempts, Generation.side, Generation.params,
                       Generation.turn_id, Generation.attempts_base)
        )
    ).first()
    if row is None:
        await session.rollback()
        return None
    attempts, side, params, turn_id, base = row
    await session.execute(
        update(GenerationAttempt)
        .where(GenerationAttempt.generation_id == gid, GenerationAttempt.outcome == "running")
        .values(outcome="superseded", ended_at=now)
    )
    await session.execute(
        GenerationAttempt.__table__.insert().values(
            generation_id=gid, attempt=attempts, worker_id=worker_id, started_at=now,
            outcome="running",
        )
    )
    this_turn = select(Turn.battle_id, Turn.index).where(Turn.id == turn_id).subquery()
    own = Generation.__table__.alias("own")
    rows = (
        await session.execute(
            select(Turn.index, Turn.prompt, own.c.text, Battle.image_sha256)
            .join(this_turn, Turn.battle_id == this_turn.c.battle_id)
            .join(Battle, Battle.id == Turn.battle_id)
            .outerjoin(own, and_(own.c.turn_id == Turn.id, own.c.side == side))
            .where(Turn.index <= this_turn.c.index)
            .order_by(Turn.index)
        )
    ).all()
    await session.commit()
    messages: list[ChatMessage] = []
    for i, (_, prompt, text, _) in enumerate(rows):
        messages.append(ChatMessage("user", prompt))
        if i < len(rows) - 1:
            messages.append(ChatMessage("assistant", text or ""))
    return JobContext(gid, attempts, params or {}, rows[0][3] if rows else None, messages,
                      int(base or 0))


def _current(gid: uuid.UUID, attempt: int) -> Any:
    """The fence: this attempt is still the running one."""
    return and_(Generation.id == gid, Generation.attempts == attempt,
                Generation.status == "running")


async def _end_attempt(
    session: AsyncSession, gid: uuid.UUID, attempt: int, outcome: str, error: str | None = None
) -> None:
    await session.execute(
        update(GenerationAttempt)
        .where(GenerationAttempt.generation_id == gid, GenerationAttempt.attempt == attempt,
               GenerationAttempt.outcome == "running")
        .values(outcome=outcome, ended_at=_now(), error=error[:2000] if error else None)
    )


async def _fenced(
    session: AsyncSession, gid: uuid.UUID, attempt: int, values: dict[str, Any], outcome: str,
    error: str | None = None,
) -> int | None:
    """Apply `values` if `attempt` is current; record how the attempt ended either way.
    Returns the generation's attempts when the write took effect, else None."""
    row = (
        await session.execute(
            update(Generation).where(_current(gid, attempt))
            .values(status_at=_now(), **values).returning(Generation.attempts)
        )
    ).first()
    await _end_attempt(session, gid, attempt, outcome if row is not None else "stale", error)
    await session.commit()
    return None if row is None else int(row[0])


async def _battle_identity_words(session: AsyncSession, gid: uuid.UUID) -> list[str]:
    """The registry's identity words of both models of this generation's battle: what
    the leaderboard's identity rule will look for in the answer."""
    rows = (
        await session.execute(
            select(ModelEntry.name, ModelEntry.identity_words)
            .select_from(Generation)
            .join(Turn, Turn.id == Generation.turn_id)
            .join(Battle, Battle.id == Turn.battle_id)
            .join(ModelEntry, or_(ModelEntry.name == Battle.model_a,
                                  ModelEntry.name == Battle.model_b))
            .where(Generation.id == gid)
        )
    ).all()
    return [w for name, registry in rows for w in model_identity_words(name, registry)]


async def save_answer(
    session: AsyncSession,
    generation_id: str,
    attempt: int,
    *,
    text: str,
    prompt_tokens: int,
    completion_tokens: int,
    finish_reason: str,
    ttft_ms: float | None,
    latency_ms: float,
) -> bool:
    """Store the answer of `attempt`; False when that attempt is no longer current."""
    gid = uuid.UUID(generation_id)
    words = await _battle_identity_words(session, gid)
    values = dict(
        style=style_to_store(text),  # the leaderboard reads these (app/leaderboard/style_store)
        mentions=mentions_to_store(text, words),  # and these (app/leaderboard/mentions_store)
        text=text, status="done", prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens, finish_reason=finish_reason,
        ttft_ms=ttft_ms, latency_ms=latency_ms, finished_at=_now(), error=None,
    )
    return await _fenced(session, gid, attempt, values, "done") is not None


async def mark_failed(
    session: AsyncSession, generation_id: str, attempt: int, reason: str
) -> bool:
    gid = uuid.UUID(generation_id)
    values = dict(status="failed", error=reason[:2000], finished_at=_now())
    return await _fenced(session, gid, attempt, values, "failed", reason) is not None


async def fail_or_redraw(
    session: AsyncSession, queue: JobQueue, generation_id: str, attempt: int, reason: str
) -> Redrawn | None:
    """The last attempt of `attempt`'s model failed: re-draw the side when the battle rules
    allow it (a first-turn failure of an anonymous battle, app/arena/redraw.py), recording
    the attempt as failed. None: not re-drawn (the caller then marks the side failed).
    The caller announces a re-draw (`app.arena.redraw.announce`) after this returns."""
    gid = uuid.UUID(generation_id)
    redrawn = await redraw_failed_side(session, queue, gid, seen_status="running",
                                       seen_attempts=attempt, reason=reason)
    if redrawn is None:
        return None
    await _end_attempt(session, gid, attempt, "failed", reason)
    await session.commit()
    return redrawn


async def requeue(
    session: AsyncSession, generation_id: str, attempt: int, reason: str,
    outcome: str = "requeued",
) -> int | None:
    """Back to queued for another attempt; the attempts so far, or None when `attempt` is
    no longer current (finished, or taken over): then the caller must leave the job alone."""
    gid = uuid.UUID(generation_id)
    values = dict(status="queued", error=reason[:2000])
    return await _fenced(session, gid, attempt, values, outcome, reason)


# ------------------------------------------------------------------ the sweeper's queries


@dataclass(frozen=True)
class StaleGeneration:
    id: uuid.UUID
    status: str
    attempts: int
    base: int = 0  # attempts_base: the attempts before the side's model was re-drawn


async def unfinished_rows(
    session: AsyncSession, table: Any, owner: Any, model: str, grace_s: float
) -> list[StaleGeneration]:
    """Unfinished rows of `table` (generations or judgments) of `model` (`owner` is the
    column naming it) whose status has not changed for `grace_s`."""
    cutoff = _now() - timedelta(seconds=grace_s)
    base = getattr(table, "attempts_base", None)
    rows = await session.execute(
        select(table.id, table.status, table.attempts,
               base if base is not None else literal(0))
        .where(owner == model, table.status.in_(UNFINISHED), table.status_at < cutoff)
        .order_by(table.status_at)
    )
    await session.commit()
    return [StaleGeneration(*r) for r in rows]


async def recover_row(
    session: AsyncSession, table: Any, row: StaleGeneration, *, max_attempts: int,
    reason: str,
) -> str | None:
    """Make a row that no queue holds runnable again, or fail it when it has had its
    attempts. Conditional on what the sweeper saw, so a worker that moved it on in the
    meantime wins. Returns "requeued", "failed" or None (it changed meanwhile); the caller
    commits."""
    seen = and_(table.id == row.id, table.status == row.status, table.attempts == row.attempts)
    give_up = row.attempts - row.base >= max_attempts
    values: dict[str, Any] = (
        dict(status="failed",
             error=f"{reason}; gave up after {row.attempts - row.base} attempts",
             finished_at=_now())
        if give_up else dict(status="queued")
    )
    found = (
        await session.execute(
            update(table).where(seen).values(status_at=_now(), **values).returning(table.id)
        )
    ).first()
    if found is None:
        return None
    return "failed" if give_up else "requeued"


async def unfinished_before(
    session: AsyncSession, model: str, grace_s: float
) -> list[StaleGeneration]:
    return await unfinished_rows(session, Generation, Generation.model, model, grace_s)


async def recover(
    session: AsyncSession, gen: StaleGeneration, *, max_attempts: int, reason: str,
    queue: JobQueue | None = None,
) -> str | None:
    """`recover_row` for a generation, recording how its running attempt ended. A
    generation that has had its attempts is re-drawn instead of failed when the battle
    rules allow it (with `queue`: outcome "redrawn", already announced)."""
    if queue is not None and gen.attempts - gen.base >= max_attempts:
        why = f"{reason}; gave up after {gen.attempts - gen.base} attempts"
        redrawn = await redraw_failed_side(session, queue, gen.id, seen_status=gen.status,
                                           seen_attempts=gen.attempts, reason=why)
        if redrawn is not None:
            if gen.status == "running":
                await _end_attempt(session, gen.id, gen.attempts, "failed", why)
            await session.commit()
            await announce(queue, redrawn)
            return "redrawn"
    outcome = await recover_row(session, Generation, gen, max_attempts=max_attempts,
                                reason=reason)
    if outcome is not None and gen.status == "running":
        await _end_attempt(session, gen.id, gen.attempts,
                           "failed" if outcome == "failed" else "superseded", reason)
    await session.commit()
    return outcome
