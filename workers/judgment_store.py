"""The worker's statements for judgments: the same fenced protocol as generations.

A judgment's attempt number fences its writes exactly as workers/job_store.py explains
for generations; a finished judgment never changes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.judge_tables import Judgment
from workers.job_store import UNFINISHED, StaleGeneration, recover_row, unfinished_rows


@dataclass(frozen=True)
class JudgmentContext:
    id: uuid.UUID
    attempt: int
    task: str
    template_version: int
    form: str
    inputs: dict[str, Any]
    sampling: dict[str, Any]


def _now() -> datetime:
    return datetime.now(UTC)


async def begin_attempt(
    session: AsyncSession, judgment_id: str, worker_id: str
) -> JudgmentContext | None:
    try:
        jid = uuid.UUID(judgment_id)
    except ValueError:
        return None
    row = (
        await session.execute(
            update(Judgment)
            .where(Judgment.id == jid, Judgment.status.in_(UNFINISHED))
            .values(attempts=Judgment.attempts + 1, status="running", worker_id=worker_id,
                    status_at=_now(), started_at=_now())
            .returning(Judgment.attempts, Judgment.task, Judgment.template_version,
                       Judgment.form, Judgment.inputs, Judgment.sampling)
        )
    ).first()
    await session.commit()
    if row is None:
        return None
    attempts, task, version, form, inputs, sampling = row
    return JudgmentContext(jid, attempts, task, version, form, inputs or {}, sampling or {})


async def _fenced(
    session: AsyncSession, judgment_id: str, attempt: int, values: dict[str, Any]
) -> bool:
    row = (
        await session.execute(
            update(Judgment)
            .where(Judgment.id == uuid.UUID(judgment_id), Judgment.attempts == attempt,
                   Judgment.status == "running")
            .values(status_at=_now(), **values)
            .returning(Judgment.id)
        )
    ).first()
    await session.commit()
    return row is not None


async def save_result(
    session: AsyncSession, judgment_id: str, attempt: int, *, raw_output: str,
    parsed: dict[str, Any] | None, parse_error: str | None, prompt_tokens: int,
    completion_tokens: int, latency_ms: float,
) -> bool:
    """The judge answered: its raw output, and the parsed result or why it did not parse
    (stored as such: an unparsable output is never turned into a verdict)."""
    return await _fenced(session, judgment_id, attempt, dict(
        status="done", raw_output=raw_output, parsed=parsed,
        parse_error=parse_error[:2000] if parse_error else None, error=None,
        prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
        latency_ms=latency_ms, finished_at=_now(),
    ))


async def mark_failed(session: AsyncSession, judgment_id: str, attempt: int, reason: str) -> bool:
    return await _fenced(session, judgment_id, attempt, dict(
        status="failed", error=reason[:2000], finished_at=_now()))


async def requeue(
    session: AsyncSession, judgment_id: str, attempt: int, reason: str,
    outcome: str = "requeued",
) -> int | None:
    """Back to queued (None when `attempt` is no longer current). `outcome` is kept for
    the same signature as generations; judgments keep no attempt log."""
    ok = await _fenced(session, judgment_id, attempt, dict(status="queued", error=reason[:2000]))
    return attempt if ok else None


async def unfinished_before(
    session: AsyncSession, model: str, grace_s: float
) -> list[StaleGeneration]:
    return await unfinished_rows(session, Judgment, Judgment.judge_model, model, grace_s)


async def recover(
    session: AsyncSession, row: StaleGeneration, *, max_attempts: int, reason: str
) -> str | None:
    outcome = await recover_row(session, Judgment, row, max_attempts=max_attempts,
                                reason=reason)
    await session.commit()
    return outcome
