"""Request dependencies: the database session, the visitor behind the signed cookie."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.arena.errors import ArenaError
from app.arena.visitors import create_visitor, find_visitor, has_consented, hash_ip
from app.db.models import Visitor
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
    found = await find_visitor(session, request.session.get("vid"), ip_hash,
                               get_state(request).settings.terms_version)
    if found.ip_banned:  # checked first: creates nothing
        raise ArenaError("This network can no longer use the arena.", 403)
    visitor = found.visitor or await create_visitor(session, ip_hash)
    request.session["vid"] = str(visitor.id)
    if visitor.banned:
        raise ArenaError("This browser can no longer use the arena.", 403)
    request.state.consented = (visitor.id, found.consented)  # for require_consent
    return visitor


async def require_consent(
    request: Request,
    session: Annotated[AsyncSession, Depends(get_session)],
    visitor: Annotated[Visitor, Depends(get_visitor)],
) -> Visitor:
    known = getattr(request.state, "consented", None)
    consented = (known[1] if known is not None and known[0] == visitor.id
                 else await has_consented(session, visitor.id,
                                          get_state(request).settings.terms_version))
    if not consented:
        raise ArenaError("Please accept the terms of use first (POST /api/consent).", 403)
    return visitor


SessionDep = Annotated[AsyncSession, Depends(get_session)]
VisitorDep = Annotated[Visitor, Depends(get_visitor)]
ConsentedVisitorDep = Annotated[Visitor, Depends(require_consent)]
StateDep = Annotated[ArenaState, Depends(get_state)]
