"""Public pages (Jinja2 + htmx). Errors come back as a readable message in the page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from app.arena.battles import model_availability, owned_battle
from app.arena.deletion import delete_battle, visitor_battles
from app.arena.presets import RANDOM_IMAGE, example_questions, preset_available
from app.arena.reasons import COMMENT_MAX_CHARS, TAG_LABELS, TAGS
from app.arena.views import battle_view
from app.arena.visitors import has_consented, record_consent
from app.config import REPO_ROOT
from app.web import actions
from app.web.actions import start_battle
from app.web.deps import ConsentedVisitorDep, SessionDep, StateDep, VisitorDep, client_ip_hash
from app.web.render import render_markdown
from app.web.uploads import upload_rules

templates = Jinja2Templates(directory=str(Path(REPO_ROOT) / "templates"))
templates.env.filters["markdown"] = render_markdown
templates.env.globals["reason_tags"] = TAGS
templates.env.globals["reason_labels"] = TAG_LABELS
templates.env.globals["comment_max_chars"] = COMMENT_MAX_CHARS

router = APIRouter(include_in_schema=False)

MODE_PAGES = {"/": "anonymous", "/compare": "side_by_side", "/chat": "direct"}


def _page(request: Request, name: str, status: int = 200, **ctx: object) -> HTMLResponse:
    return templates.TemplateResponse(request, name, ctx, status_code=status)


async def _mode_page(
    request: Request, session: SessionDep, visitor: VisitorDep, state: StateDep, mode: str
) -> Response:
    if not await has_consented(session, visitor.id, state.settings.terms_version):
        return _page(request, "terms.html", next=request.url.path)
    models = await model_availability(session, state.queue)
    return _page(request, "arena.html", mode=mode, models=models,
                 examples=example_questions(state.settings), upload=upload_rules(state.settings),
                 preset=RANDOM_IMAGE if preset_available(state.settings) else None)


@router.get("/", response_class=HTMLResponse)
async def arena(request: Request, session: SessionDep, visitor: VisitorDep, state: StateDep):
    return await _mode_page(request, session, visitor, state, "anonymous")


@router.get("/compare", response_class=HTMLResponse)
async def compare(request: Request, session: SessionDep, visitor: VisitorDep, state: StateDep):
    return await _mode_page(request, session, visitor, state, "side_by_side")


@router.get("/chat", response_class=HTMLResponse)
async def chat(request: Request, session: SessionDep, visitor: VisitorDep, state: StateDep):
    return await _mode_page(request, session, visitor, state, "direct")


@router.get("/terms", response_class=HTMLResponse)
async def terms(request: Request):
    return _page(request, "terms.html", next="/")


@router.post("/consent")
async def consent(
    request: Request,
    session: SessionDep,
    visitor: VisitorDep,
    state: StateDep,
    accept: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
):
    if accept != "yes":
        return _page(request, "terms.html", status=422, next=next,
                     error="Please tick the box to accept the terms.")
    await record_consent(session, visitor.id, state.settings.terms_version,
                         client_ip_hash(request))
    target = next if next in MODE_PAGES else "/"
    return RedirectResponse(target, status_code=303)


@router.post("/battles", response_class=HTMLResponse)
async def create(
    request: Request,
    session: SessionDep,
    visitor: ConsentedVisitorDep,
    state: StateDep,
    image: Annotated[UploadFile | None, File()] = None,
    prompt: Annotated[str, Form()] = "",
    mode: Annotated[str, Form()] = "anonymous",
    model_a: Annotated[str, Form()] = "",
    model_b: Annotated[str, Form()] = "",
    preset: Annotated[str, Form()] = "",
    refinement: Annotated[bool, Form()] = False,
):
    battle = await start_battle(
        state, session, visitor=visitor, ip_hash=client_ip_hash(request), upload=image,
        prompt=prompt, mode=mode,
        requested=[model_a, model_b] if mode == "side_by_side" else [model_a],
        preset=preset, refinement=refinement,
    )
    view = battle_view(battle)  # create_battle returns it whole: no second read
    response = _page(request, "_battle.html", battle=view)
    response.headers["HX-Push-Url"] = f"/battle/{battle.id}"
    return response


@router.get("/battle/{battle_id}", response_class=HTMLResponse)
async def show(battle_id: str, request: Request, session: SessionDep, visitor: VisitorDep):
    view = battle_view(await owned_battle(session, battle_id, visitor))
    return _page(request, "battle.html", battle=view)


@router.post("/battle/{battle_id}/turns", response_class=HTMLResponse)
async def follow_up(
    battle_id: str,
    request: Request,
    session: SessionDep,
    visitor: ConsentedVisitorDep,
    state: StateDep,
    prompt: Annotated[str, Form()] = "",
):
    battle = await owned_battle(session, battle_id, visitor)
    await actions.follow_up(state, session, battle, visitor, prompt)
    view = battle_view(await owned_battle(session, battle_id, visitor))
    return _page(request, "_battle.html", battle=view)


@router.post("/battle/{battle_id}/vote", response_class=HTMLResponse)
async def vote(
    battle_id: str,
    request: Request,
    session: SessionDep,
    visitor: ConsentedVisitorDep,
    state: StateDep,
    winner: Annotated[str, Form()] = "",
):
    battle = await owned_battle(session, battle_id, visitor)
    await actions.vote(state, session, battle, visitor, winner, client_ip_hash(request))
    view = battle_view(battle)  # cast_vote leaves it as written: no second read
    return _page(request, "_battle.html", battle=view)


@router.post("/battle/{battle_id}/reasons", response_class=HTMLResponse)
async def reasons(
    battle_id: str,
    request: Request,
    session: SessionDep,
    visitor: ConsentedVisitorDep,
    a: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies the default
    b: Annotated[list[str], Form()] = [],  # noqa: B006
    comment: Annotated[str, Form()] = "",
):
    battle = await owned_battle(session, battle_id, visitor)
    await actions.give_reasons(session, battle, visitor, a, b, comment)
    view = battle_view(await owned_battle(session, battle_id, visitor))
    return _page(request, "_battle.html", battle=view)


@router.get("/my-battles", response_class=HTMLResponse)
async def my_battles(request: Request, session: SessionDep, visitor: VisitorDep):
    views = [battle_view(b) for b in await visitor_battles(session, visitor)]
    return _page(request, "my_battles.html", battles=views)


@router.post("/my-battles/{battle_id}/delete")
async def delete(battle_id: str, session: SessionDep, visitor: VisitorDep):
    await delete_battle(session, battle_id, visitor)
    return RedirectResponse("/my-battles", status_code=303)
