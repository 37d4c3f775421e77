"""Visitors and consent. IPs are stored only as salted hashes."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.dialect import insert_for
from app.db.models import Consent, Visitor


def hash_ip(ip: str, salt: str) -> str:
    return hmac.new(salt.encode(), ip.encode(), hashlib.sha256).hexdigest()


async def get_or_create_visitor(
    session: AsyncSession, visitor_id: str | None, ip_hash: str
) -> Visitor:
    if visitor_id:
        try:
            found = await session.get(Visitor, uuid.UUID(visitor_id))
        except ValueError:
            found = None
        if found is not None:
            return found
    visitor = Visitor(ip_hash=ip_hash)
    session.add(visitor)
    await session.commit()
    return visitor


async def has_consented(session: AsyncSession, visitor_id: uuid.UUID, version: str) -> bool:
    row = await session.scalar(
        select(Consent.id).where(
            Consent.visitor_id == visitor_id, Consent.terms_version == version
        )
    )
    return row is not None


async def record_consent(
    session: AsyncSession, visitor_id: uuid.UUID, version: str, ip_hash: str
) -> None:
    """Idempotent: a double submit of the terms form inserts one row and never fails."""
    await session.execute(
        insert_for(session)(Consent)
        .values(id=uuid.uuid4(), visitor_id=visitor_id, terms_version=version, ip_hash=ip_hash,
                accepted_at=datetime.now(UTC))
        .on_conflict_do_nothing(index_elements=["visitor_id", "terms_version"])
    )
    await session.commit()
