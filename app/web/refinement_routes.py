"""Routes of refinement turns and ratings: the page's forms (htmx) and the JSON API.

Thin: the feedback is screened like a follow-up question, then app/arena/refinement.py
and app/arena/ratings.py do the work; the rules are app/arena/rules.py's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.arena.battles import owned_battle
from app.arena.ratings import check_ratings, rate_answers
from app.arena.refinement import FEEDBACK_MAX_CHARS, add_refinement, check_feedback
from app.arena.views import battle_view
from app.db.models import Battle
from app.web.api import battle_out
from app.web.deps import ConsentedVisitorDep, SessionDep, StateDep
from app.web.guards import screen
from app.web.pages import templates
from app.web.schemas import BattleOut, RatingsIn, RefinementIn, error_responses
from app.web.state import ArenaState

# The feedback form's limit (templates/_refine.html), stated where the rule lives.
templates.env.globals["feedback_max_chars"] = FEEDBACK_MAX_CHARS
api_router = APIRouter(prefix="/api", tags=["api"])
page_router = APIRouter(include_in_schema=False)


async def give_feedback(
    state: ArenaState, session: AsyncSession, battle: Battle, feedback: str,
    ratings: Mapping[str, object],
) -> None:
    """Validate everything first (nothing is screened or written for bad input), screen the
    feedback as a prompt, then store the refinement turn with its "before" ratings."""
    text = check_feedback(feedback)
    checked = check_ratings(ratings)
    screening = await screen(state.gate, prompt=text, key=f"prompt_{len(battle.turns)}")
    await add_refinement(session, state.queue, battle, text, state.limits, ratings=checked,
                         moderation=screening.results, review=screening.review)


@api_router.post("/battles/{battle_id}/refinements", status_code=201,
                 responses=error_responses(400, 403, 404, 409, 422, 429, 503))
async def refine(
    battle_id: str, body: RefinementIn, session: SessionDep, visitor: ConsentedVisitorDep,
    state: StateDep,
) -> BattleOut:
    """Give both models feedback on their latest answers (before the vote): they refine
    them with the whole conversation. Optional 1-10 ratings of the answers so far."""
    battle = await owned_battle(session, battle_id, visitor)
    await give_feedback(state, session, battle, body.feedback,
                        {"a": body.rating_a, "b": body.rating_b})
    return battle_out(await owned_battle(session, battle_id, visitor))


@api_router.post("/battles/{battle_id}/ratings",
                 responses=error_responses(400, 403, 404, 409, 422, 503))
async def rate(
    battle_id: str, body: RatingsIn, session: SessionDep, visitor: ConsentedVisitorDep,
) -> BattleOut:
    """Rate the latest turn's answers 1-10 (once each, before the vote)."""
    battle = await owned_battle(session, battle_id, visitor)
    await rate_answers(session, battle, body.turn, check_ratings({"a": body.a, "b": body.b}))
    return battle_out(await owned_battle(session, battle_id, visitor))


def _battle_fragment(request: Request, battle: Battle) -> HTMLResponse:
    return templates.TemplateResponse(request, "_battle.html", {"battle": battle_view(battle)})


@page_router.post("/battle/{battle_id}/refine", response_class=HTMLResponse)
async def refine_page(
    battle_id: str,
    request: Request,
    session: SessionDep,
    visitor: ConsentedVisitorDep,
    state: StateDep,
    feedback: Annotated[str, Form(max_length=100_000)] = "",
    rating_a: Annotated[str, Form(max_length=8)] = "",
    rating_b: Annotated[str, Form(max_length=8)] = "",
):
    battle = await owned_battle(session, battle_id, visitor)
    await give_feedback(state, session, battle, feedback, {"a": rating_a, "b": rating_b})
    return _battle_fragment(request, await owned_battle(session, battle_id, visitor))


@page_router.post("/battle/{battle_id}/ratings", response_class=HTMLResponse)
async def rate_page(
    battle_id: str,
    request: Request,
    session: SessionDep,
    visitor: ConsentedVisitorDep,
    turn: Annotated[int, Form(ge=0)],
    rating_a: Annotated[str, Form(max_length=8)] = "",
    rating_b: Annotated[str, Form(max_length=8)] = "",
):
    battle = await owned_battle(session, battle_id, visitor)
    await rate_answers(session, battle, turn, check_ratings({"a": rating_a, "b": rating_b}))
    return _battle_fragment(request, await owned_battle(session, battle_id, visitor))
