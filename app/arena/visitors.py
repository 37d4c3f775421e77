"""Visitors and consent. IPs are stored only as salted hashes."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.dialect import insert_for
from app.db.models import BannedIp, Consent, Visitor


def hash_ip(ip: str, salt: str) -> str:
    return hmac.new(salt.encode(), ip.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class VisitorLookup:
    """What every request needs to know about its visitor, read with one statement."""

    visitor: Visitor | None  # None: no cookie, a malformed one, or an unknown visitor
    ip_banned: bool
    consented: bool  # to the terms version asked about


async def find_visitor(
    session: AsyncSession, visitor_id: str | None, ip_hash: str, terms_version: str
) -> VisitorLookup:
    """The cookie's visitor, whether its network is banned and whether it accepted
    `terms_version`, in one round trip: the web process does this on every request."""
    ip_banned = exists().where(BannedIp.ip_hash == ip_hash)
    try:
        vid = uuid.UUID(visitor_id) if visitor_id else None
    except ValueError:
        vid = None
    if vid is not None:
        consented = exists().where(Consent.visitor_id == Visitor.id,
                                   Consent.terms_version == terms_version)
        row = (await session.execute(
            select(Visitor, ip_banned.label("ip_banned"), consented.label("consented"))
            .where(Visitor.id == vid)
            .execution_options(populate_existing=True)  # a ban takes effect at once
        )).first()
        if row is not None:
            return VisitorLookup(row[0], bool(row[1]), bool(row[2]))
    return VisitorLookup(None, bool(await session.scalar(select(ip_banned))), False)


async def create_visitor(session: AsyncSession, ip_hash: str) -> Visitor:
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
