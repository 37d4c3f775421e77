"""The public leaderboard: page, JSON and plot images. Every handler only reads the latest
stored snapshot (`arena leaderboard` / the nightly export write them); nothing is fitted
or drawn on a request."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from app.arena.errors import ArenaError
from app.arena.reasons import TAG_LABELS, TAGS
from app.bench.views import latest_bench_view
from app.config import REPO_ROOT
from app.leaderboard.compute import KIND_LABELS, OVERALL, slice_label
from app.leaderboard.personal_view import visitor_board
from app.leaderboard.plots import PLOTS
from app.leaderboard.snapshots import SnapshotView, latest_snapshot, snapshot_plot
from app.web.deps import SessionDep, VisitorDep
from app.web.schemas import LeaderboardPublic, error_responses

templates = Jinja2Templates(directory=str(Path(REPO_ROOT) / "templates"))
templates.env.globals["reason_labels"] = TAG_LABELS
templates.env.globals["positive_reasons"] = frozenset(t.name for t in TAGS if t.positive)

router = APIRouter()


def snapshot_json(view: SnapshotView | None) -> dict[str, Any]:
    if view is None:
        return {"snapshot": None, "rows": [], "kinds": [], "slices": []}
    snap = view.snapshot
    payload = snap.payload or {}
    return {
        "snapshot": {
            "id": str(snap.id),
            "run_id": str(snap.run_id),
            "created_at": snap.created_at.isoformat(),
            "cutoff": snap.cutoff.isoformat(),
            "kind": snap.kind,
            "slice": snap.slice,
            "source": snap.source,
            "code_version": snap.code_version,
            "seed": snap.seed,
            "battles_considered": snap.n_battles_total,
            "battles_used": snap.n_battles_used,
            "ci_method": payload.get("ci_method"),
            "ci_level": payload.get("ci_level"),
            "style_coefficients": payload.get("style_coefficients"),
            "reweighting": payload.get("reweighting"),
            "ties": payload.get("ties"),
            "plots": {name: f"/leaderboard/plots/{snap.id}/{name}.svg"
                      for name in PLOTS if name in (snap.plots or {})},
        },
        "rows": payload.get("rows", []),
        "models": payload.get("models", []),
        "winrate": payload.get("winrate", []),
        "reasons": payload.get("reasons"),
        "cleaning": snap.cleaning,
        "kinds": view.kinds,
        "slices": view.slices,
    }


async def stored_board(session: SessionDep, kind: str, slice_: str) -> SnapshotView | None:
    # No stored kind or slice contains NUL, and PostgreSQL refuses it in a query (a 500).
    if "\x00" in kind or "\x00" in slice_:
        return None
    return await latest_snapshot(session, kind, slice_)


@router.get("/leaderboard", response_class=HTMLResponse, include_in_schema=False)
async def leaderboard_page(request: Request, session: SessionDep, kind: str = "default",
                           slice: str = OVERALL) -> HTMLResponse:
    view = await stored_board(session, kind, slice)
    ctx: dict[str, Any] = {"view": view, "kind_labels": KIND_LABELS,
                           "slice_label": slice_label,
                           "bench": await latest_bench_view(session), "kind": kind}
    if view is not None:
        ctx["snap"] = view.snapshot
        ctx["payload"] = view.snapshot.payload or {}
    response = templates.TemplateResponse(request, "leaderboard.html", ctx)
    response.headers["Cache-Control"] = "no-cache"
    return response


@router.get("/leaderboard/me", response_class=HTMLResponse, include_in_schema=False)
async def personal_page(request: Request, session: SessionDep,
                        visitor: VisitorDep) -> HTMLResponse:
    """This browser's own board (after 20 votes); private, never cached or shared."""
    board = await visitor_board(session, visitor.id)
    response = templates.TemplateResponse(request, "leaderboard_personal.html",
                                          {"board": board})
    response.headers["Cache-Control"] = "private, no-store"
    return response


@router.get("/api/leaderboard", tags=["leaderboard"], responses=error_responses(422, 503))
async def leaderboard_json(session: SessionDep, kind: str = "default",
                           slice: str = OVERALL) -> LeaderboardPublic:
    """The latest stored leaderboard for one kind (default | style) and slice (overall,
    category:<c>, language:<l>, ...). ``snapshot`` is null before the first run, and for
    a kind or slice that has none."""
    return LeaderboardPublic.model_validate(
        snapshot_json(await stored_board(session, kind, slice))
    )


@router.get("/leaderboard/plots/{snapshot_id}/{name}.svg", include_in_schema=False)
async def leaderboard_plot(snapshot_id: str, name: str, session: SessionDep) -> Response:
    try:
        sid = uuid.UUID(snapshot_id)
    except ValueError:
        raise ArenaError("No such plot.", 404) from None
    svg = await snapshot_plot(session, sid, name) if name in PLOTS else None
    if svg is None:
        raise ArenaError("No such plot.", 404)
    # A snapshot never changes, so its plots can be cached for good.
    return Response(svg, media_type="image/svg+xml",
                    headers={"Cache-Control": "public, max-age=31536000, immutable",
                             "X-Content-Type-Options": "nosniff"})
