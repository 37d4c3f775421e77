"""Request dependencies: the database session, the visitor behind the signed cookie."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.arena.errors import ArenaError
from app.arena.visitors import get_or_create_visitor, has_consented, hash_ip
from app.db.models import BannedIp, Visitor
from app.web.state import ArenaState


def get_state(request: Request) -> ArenaState:
    return request.app.state.arena


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with get_state(request).sessionmaker() as session:
        yield session


def client_ip_hash(request: Request) -> str:
    ip = request.client.host if request.client else "unknown"
    return hash_ip(ip, get_state(request).ip_salt)


async def get_visitor(
    request: Request, session: Annotated[AsyncSession, Depends(get_session)]
) -> Visitor:
    ip_hash = client_ip_hash(request)
    if await session.get(BannedIp, ip_hash) is not None:  # checked first: creates nothing
        raise ArenaError("This network can no longer use the arena.", 403)
    visitor = await get_or_create_visitor(session, request.session.get("vid"), ip_hash)
    request.session["vid"] = str(visitor.id)
    if visitor.banned:
        raise ArenaError("This browser can no longer use the arena.", 403)
    return visitor


async def require_consent(
    request: Request,
    session: Annotated[AsyncSession, Depends(get_session)],
    visitor: Annotated[Visitor, Depends(get_visitor)],
) -> Visitor:
    if not await has_consented(session, visitor.id, get_state(request).settings.terms_version):
        raise ArenaError("Please accept the terms of use first (POST /api/consent).", 403)
    return visitor


SessionDep = Annotated[AsyncSession, Depends(get_session)]
VisitorDep = Annotated[Visitor, Depends(get_visitor)]
ConsentedVisitorDep = Annotated[Visitor, Depends(require_consent)]
StateDep = Annotated[ArenaState, Depends(get_state)]
