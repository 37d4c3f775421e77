"""The worker's database statements: few, small and in Core, because they run once per
job at the start and end of every answer and their cost shows in time to first token."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Battle, Generation, Turn
from workers.engines.base import ChatMessage


@dataclass(frozen=True)
class JobContext:
    generation_id: uuid.UUID
    attempt: int
    params: dict[str, Any]
    image_sha256: str | None
    messages: list[ChatMessage]


async def begin_attempt(
    session: AsyncSession, generation_id: str, worker_id: str
) -> JobContext | None:
    """Count one more attempt and mark the generation running, in one statement; then read
    the conversation this side has seen. None: nothing to do (finished, failed, unknown)."""
    try:
        gid = uuid.UUID(generation_id)
    except ValueError:
        return None
    row = (
        await session.execute(
            update(Generation)
            .where(Generation.id == gid, Generation.status.in_(("queued", "running")))
            .values(attempts=Generation.attempts + 1, status="running", worker_id=worker_id)
            .returning(Generation.attempts, Generation.side, Generation.params,
                       Generation.turn_id)
        )
    ).first()
    if row is None:
        await session.rollback()
        return None
    attempts, side, params, turn_id = row
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
    return JobContext(gid, attempts, params or {}, rows[0][3] if rows else None, messages)


async def save_answer(
    session: AsyncSession,
    generation_id: str,
    *,
    text: str,
    prompt_tokens: int,
    completion_tokens: int,
    finish_reason: str,
    ttft_ms: float | None,
    latency_ms: float,
) -> None:
    await session.execute(
        update(Generation)
        .where(Generation.id == uuid.UUID(generation_id))
        .values(
            text=text, status="done", prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens, finish_reason=finish_reason,
            ttft_ms=ttft_ms, latency_ms=latency_ms, finished_at=datetime.now(UTC), error=None,
        )
    )
    await session.commit()


async def mark_failed(session: AsyncSession, generation_id: str, reason: str) -> None:
    await session.execute(
        update(Generation)
        .where(Generation.id == uuid.UUID(generation_id))
        .values(status="failed", error=reason[:2000], finished_at=datetime.now(UTC))
    )
    await session.commit()


async def requeue(session: AsyncSession, generation_id: str, reason: str) -> int | None:
    """Back to queued for another attempt; returns the attempts so far (None: unknown id)."""
    row = (
        await session.execute(
            update(Generation)
            .where(Generation.id == uuid.UUID(generation_id))
            .values(status="queued", error=reason[:2000])
            .returning(Generation.attempts)
        )
    ).first()
    await session.commit()
    return None if row is None else int(row[0])
