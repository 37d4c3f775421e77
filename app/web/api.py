"""The JSON API: the same actions as the pages, documented at /docs.

Every route declares its request and response models (app/web/schemas.py) and the error
codes it can answer, each with an `ErrorDetail` body, so that the OpenAPI schema is
complete. A battle is answered as `BattlePublic` (names hidden: the type has no place for
them) or `RevealedBattle`, as `battle_view` decides.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import Response, StreamingResponse
from pydantic import TypeAdapter

from app.arena.battles import model_availability, owned_battle, visitor_may_see_image
from app.arena.deletion import delete_battle, visitor_battles
from app.arena.errors import ArenaError
from app.arena.views import battle_view
from app.arena.visitors import record_consent
from app.db.models import Battle
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
from app.web.schemas import (
    BattleDeleted,
    BattleOut,
    ConsentIn,
    ConsentPublic,
    Mode,
    ModelAvailability,
    ReasonsIn,
    TurnIn,
    VoteIn,
    error_responses,
    file_part,
)
from app.web.stream import relay_turn

router = APIRouter(prefix="/api", tags=["api"])

SHA256 = re.compile(r"[0-9a-f]{64}")
_battle_out: TypeAdapter[BattleOut] = TypeAdapter(BattleOut)


def battle_out(battle: Battle) -> BattleOut:
    """The battle as its response model; a view with an undeclared key fails here."""
    return _battle_out.validate_python(battle_view(battle))


@router.post("/consent", responses=error_responses(400, 403, 422, 503))
async def consent(
    body: ConsentIn, request: Request, session: SessionDep, visitor: VisitorDep, state: StateDep
) -> ConsentPublic:
    """Accept the terms of use (conversations may be released for research)."""
    if not body.accept:
        raise ArenaError("The arena can only be used after accepting the terms.", 422)
    await record_consent(session, visitor.id, state.settings.terms_version,
                         client_ip_hash(request))
    return ConsentPublic(accepted=True, terms_version=state.settings.terms_version)


@router.get("/models", responses=error_responses(503))
async def models(session: SessionDep, state: StateDep) -> list[ModelAvailability]:
    """The enabled models and whether each is online."""
    return [ModelAvailability.model_validate(m)
            for m in await model_availability(session, state.queue)]


@router.post("/battles", status_code=201,
             responses=error_responses(400, 403, 404, 413, 415, 422, 429, 503))
async def create(
    request: Request,
    session: SessionDep,
    visitor: ConsentedVisitorDep,
    state: StateDep,
    image: Annotated[UploadFile | None, File(description="JPEG, PNG, WebP or GIF",
                                             json_schema_extra=file_part)] = None,
    prompt: Annotated[str, Form(max_length=100_000)] = "",
    mode: Annotated[Mode, Form()] = "anonymous",
    model_a: Annotated[str, Form()] = "",
    model_b: Annotated[str, Form()] = "",
    preset: Annotated[str, Form(max_length=64, description=(
        "random-image: the arena draws the image and an example question (image and "
        "prompt are then not used); such battles are kept out of the ranking"))] = "",
    refinement: Annotated[bool, Form(description=(
        "anonymous only: a refinement battle, voted on after a refinement turn "
        "(POST /api/battles/{id}/refinements); its vote counts in the refinement "
        "category"))] = False,
) -> BattleOut:
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
        preset=preset,
        refinement=refinement,
    )
    return battle_out(battle)  # create_battle returns it whole: no second read


@router.get("/battles", responses=error_responses(403, 503))
async def my_battles(session: SessionDep, visitor: VisitorDep) -> list[BattleOut]:
    """Your battles, newest first (names only after the vote); deleted ones are gone."""
    return [battle_out(b) for b in await visitor_battles(session, visitor)]


@router.delete("/battles/{battle_id}", responses=error_responses(403, 404, 422, 503))
async def delete(battle_id: str, session: SessionDep, visitor: VisitorDep) -> BattleDeleted:
    """Delete one of your battles (a tombstone; doing it again answers the same)."""
    return BattleDeleted(id=str(await delete_battle(session, battle_id, visitor)))


@router.get("/battles/{battle_id}", responses=error_responses(403, 404, 422, 503))
async def get_battle(battle_id: str, session: SessionDep, visitor: VisitorDep) -> BattleOut:
    """One of your battles (the same 404 for a missing one and another visitor's)."""
    return battle_out(await owned_battle(session, battle_id, visitor))


@router.get(
    "/battles/{battle_id}/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-sent events: `a` / `b` (delta, reset, done, failed) "
                           "and a final `end` event",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **error_responses(403, 404, 422, 503),
    },
)
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
    async with state.read_session() as session:
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


@router.post("/battles/{battle_id}/turns", status_code=201,
             responses=error_responses(400, 403, 404, 409, 422, 429, 503))
async def follow_up(
    battle_id: str, body: TurnIn, session: SessionDep, visitor: ConsentedVisitorDep,
    state: StateDep,
) -> BattleOut:
    """Ask both models a follow-up question (before the vote)."""
    battle = await owned_battle(session, battle_id, visitor)
    await actions.follow_up(state, session, battle, visitor, body.prompt)
    return battle_out(await owned_battle(session, battle_id, visitor))


@router.post("/battles/{battle_id}/vote",
             responses=error_responses(400, 403, 404, 409, 422, 429, 503))
async def vote(
    battle_id: str, body: VoteIn, request: Request, session: SessionDep,
    visitor: ConsentedVisitorDep, state: StateDep,
) -> BattleOut:
    """Vote once, after both answers have finished; the response reveals both names."""
    battle = await owned_battle(session, battle_id, visitor)
    await actions.vote(state, session, battle, visitor, body.winner, client_ip_hash(request))
    return battle_out(battle)  # cast_vote leaves it as written: no second read


@router.post("/battles/{battle_id}/reasons",
             responses=error_responses(400, 403, 404, 409, 422, 503))
async def reasons(
    battle_id: str, body: ReasonsIn, session: SessionDep, visitor: ConsentedVisitorDep,
) -> BattleOut:
    """Say why, after the vote (once): tags per side and a short comment."""
    battle = await owned_battle(session, battle_id, visitor)
    await actions.give_reasons(session, battle, visitor, list(body.a), list(body.b),
                               body.comment)
    return battle_out(await owned_battle(session, battle_id, visitor))


@router.get(
    "/images/{sha256}",
    response_class=Response,
    responses={
        200: {"description": "The normalised image (PNG)",
              "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
        **error_responses(403, 404, 422, 503),
    },
)
async def image(sha256: str, session: SessionDep, visitor: VisitorDep, state: StateDep) -> Response:
    """The normalised image of one of your battles."""
    if not SHA256.fullmatch(sha256) or not await visitor_may_see_image(session, visitor, sha256):
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
