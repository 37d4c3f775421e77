"""The JSON API: the same actions as the pages, documented at /docs."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from app.arena.battles import model_availability, owned_battle, visitor_may_see_image
from app.arena.errors import ArenaError
from app.arena.views import battle_view
from app.arena.visitors import record_consent
from app.storage.blobs import BlobNotFound
from app.web import actions
from app.web.actions import start_battle
from app.web.deps import (
    ConsentedVisitorDep,
    SessionDep,
    StateDep,
    VisitorDep,
    client_ip_hash,
    get_visitor,
)
from app.web.stream import relay_turn

router = APIRouter(prefix="/api", tags=["api"])

Mode = Literal["anonymous", "side_by_side", "direct"]
Winner = Literal["model_a", "model_b", "tie", "tie (bothbad)"]


class ConsentIn(BaseModel):
    accept: bool


class TurnIn(BaseModel):
    prompt: str = Field(max_length=100_000)


class VoteIn(BaseModel):
    winner: Winner


@router.post("/consent")
async def consent(
    body: ConsentIn, request: Request, session: SessionDep, visitor: VisitorDep, state: StateDep
) -> dict:
    """Accept the terms of use (conversations may be released for research)."""
    if not body.accept:
        raise ArenaError("The arena can only be used after accepting the terms.", 422)
    await record_consent(session, visitor.id, state.settings.terms_version,
                         client_ip_hash(request))
    return {"accepted": True, "terms_version": state.settings.terms_version}


@router.get("/models")
async def models(session: SessionDep, state: StateDep) -> list[dict]:
    return await model_availability(session, state.queue)


@router.post("/battles", status_code=201)
async def create(
    request: Request,
    session: SessionDep,
    visitor: ConsentedVisitorDep,
    state: StateDep,
    image: Annotated[UploadFile | None, File()] = None,
    prompt: Annotated[str, Form(max_length=100_000)] = "",
    mode: Annotated[Mode, Form()] = "anonymous",
    model_a: Annotated[str, Form()] = "",
    model_b: Annotated[str, Form()] = "",
) -> dict:
    """Start a battle: anonymous (models drawn for you), side_by_side or direct (named)."""
    battle = await start_battle(
        state,
        session,
        visitor=visitor,
        ip_hash=client_ip_hash(request),
        upload=image,
        prompt=prompt,
        mode=mode,
        requested=[model_a, model_b] if mode == "side_by_side" else [model_a],
    )
    return battle_view(await owned_battle(session, str(battle.id), visitor))


@router.get("/battles/{battle_id}")
async def get_battle(battle_id: str, session: SessionDep, visitor: VisitorDep) -> dict:
    return battle_view(await owned_battle(session, battle_id, visitor))


@router.get("/battles/{battle_id}/stream")
async def stream(
    battle_id: str,
    request: Request,
    state: StateDep,
    turn: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-sent events for both sides of one turn (the latest by default)."""
    # A short session of its own: a stream may last minutes and must not hold a pooled
    # database connection for all that time.
    async with state.sessionmaker() as session:
        visitor = await get_visitor(request, session)
        battle = await owned_battle(session, battle_id, visitor)
    index = len(battle.turns) - 1 if turn is None else turn
    if index >= len(battle.turns):
        raise ArenaError("No such turn.", 404)
    cursor = last_event_id or request.query_params.get("last_event_id")
    return StreamingResponse(
        relay_turn(state, request, battle, index, cursor),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/battles/{battle_id}/turns", status_code=201)
async def follow_up(
    battle_id: str, body: TurnIn, session: SessionDep, visitor: ConsentedVisitorDep,
    state: StateDep,
) -> dict:
    """Ask both models a follow-up question (before the vote)."""
    battle = await owned_battle(session, battle_id, visitor)
    await actions.follow_up(state, session, battle, visitor, body.prompt)
    return battle_view(await owned_battle(session, battle_id, visitor))


@router.post("/battles/{battle_id}/vote")
async def vote(
    battle_id: str, body: VoteIn, request: Request, session: SessionDep,
    visitor: ConsentedVisitorDep, state: StateDep,
) -> dict:
    """Vote once, after both answers have finished; the response reveals both names."""
    battle = await owned_battle(session, battle_id, visitor)
    await actions.vote(state, session, battle, visitor, body.winner, client_ip_hash(request))
    return battle_view(await owned_battle(session, battle_id, visitor))


@router.get("/images/{sha256}")
async def image(sha256: str, session: SessionDep, visitor: VisitorDep, state: StateDep) -> Response:
    """The normalised image of one of your battles."""
    if not await visitor_may_see_image(session, visitor, sha256):
        raise ArenaError("Image not found.", 404)
    try:
        data = await state.blobs.get(sha256)
    except (BlobNotFound, ValueError) as exc:
        raise ArenaError("Image not found.", 404) from exc
    return Response(
        data,
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=86400, immutable"},
    )
