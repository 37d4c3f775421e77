"""The audit log: every admin action, with who, what, when and the row before/after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.admin_tables import AuditLog


def record(
    session: AsyncSession,
    actor: str,
    action: str,
    target: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLog:
    """Add an entry to the caller's transaction, so the action and its entry commit together."""
    entry = AuditLog(actor=actor, action=action, target=target, before=before, after=after)
    session.add(entry)
    return entry


async def entries(
    session: AsyncSession,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    limit: int = 200,
) -> list[AuditLog]:
    q = select(AuditLog)
    if actor:
        q = q.where(AuditLog.actor == actor)
    if action:
        q = q.where(AuditLog.action == action)
    if target:
        q = q.where(AuditLog.target == target)
    if since is not None:
        q = q.where(AuditLog.at >= since)
    q = q.order_by(AuditLog.at.desc(), AuditLog.id).limit(limit)
    return list((await session.scalars(q)).all())
