"""Server-side admin sessions: random bearer tokens whose sha256 is the row id.

A session ends when it expires, when it is revoked (logout, an admin's "revoke"), or when
its user is disabled. A login always makes a new token, so a token planted before login
(session fixation) is never promoted.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.admin_tables import AdminSession, AdminUser
from app.db.models import utcnow


def token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ActiveSession:
    """A valid session and its user, as the web layer needs them."""

    token: str
    session_id: str
    user_id: uuid.UUID
    username: str
    role: str
    csrf_token: str
    expires_at: datetime


async def start_session(session: AsyncSession, user: AdminUser, ttl_s: int) -> str:
    """Create a session row; returns the token for the cookie (the only copy)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        AdminSession(
            id=token_id(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
            csrf_token=secrets.token_urlsafe(32),
        )
    )
    await session.flush()
    return token


async def load_session(session: AsyncSession, token: str | None) -> ActiveSession | None:
    """The live session for `token`, or None (unknown, expired, revoked, user disabled)."""
    if not token or len(token) > 128:
        return None
    row = await session.execute(
        select(AdminSession, AdminUser)
        .join(AdminUser, AdminUser.id == AdminSession.user_id)
        .where(AdminSession.id == token_id(token))
    )
    found = row.first()
    if found is None:
        return None
    s, user = found
    if s.revoked_at is not None or user.disabled or _aware(s.expires_at) <= utcnow():
        return None
    return ActiveSession(
        token=token, session_id=s.id, user_id=user.id, username=user.username,
        role=user.role, csrf_token=s.csrf_token, expires_at=_aware(s.expires_at),
    )


async def revoke_session(session: AsyncSession, token: str) -> None:
    await session.execute(
        update(AdminSession)
        .where(AdminSession.id == token_id(token), AdminSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def revoke_user_sessions(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Revoke every live session of a user; returns how many were live."""
    result = await session.execute(
        update(AdminSession)
        .where(AdminSession.user_id == user_id, AdminSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return int(result.rowcount or 0)


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode())


def _aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes; every stored time is UTC."""
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)
