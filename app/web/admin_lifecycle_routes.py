"""Admin pages for the model lifecycle: /admin/lifecycle (every model's state, votes and
draw weight, testing ones included, and the data-share report) and the retire /
reinstate switch (page form and JSON), each change audited (app/admin/lifecycle.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from app.admin.lifecycle import lifecycle_rows, set_retired
from app.arena.lifecycle import STATE_LABELS, rules_from_settings
from app.leaderboard.data_share import data_share
from app.web.admin_routes import BODY_ERRORS, AdminOnly, AdminRoute, _page
from app.web.deps import SessionDep, StateDep

router = APIRouter(prefix="/admin", include_in_schema=False, route_class=AdminRoute)


class LifecycleIn(BaseModel):
    action: Literal["retire", "reinstate"]


class LifecycleOut(BaseModel):
    retired_at: str | None


@router.get("/lifecycle", response_class=HTMLResponse)
async def lifecycle_page(request: Request, session: SessionDep, state: StateDep,
                         admin: AdminOnly) -> HTMLResponse:
    rules = rules_from_settings(state.settings)
    return _page(request, "admin/lifecycle.html", admin, rules=rules,
                 state_labels=STATE_LABELS, models=await lifecycle_rows(session, rules),
                 share=await data_share(session))


@router.post("/lifecycle/{name}", response_class=HTMLResponse)
async def lifecycle_change(request: Request, name: str, session: SessionDep,
                           admin: AdminOnly,
                           action: Annotated[Literal["retire", "reinstate"], Form()],
                           ) -> HTMLResponse:
    after = await set_retired(session, name, admin.username, action)
    what = "retired: no longer drawn, marked on the board" if after["retired_at"] \
        else "reinstated: drawn again by its weight"
    return _page(request, "admin/_message.html", admin, message=f"{name} {what}.")


@router.post("/api/models/{name}/lifecycle", responses=BODY_ERRORS)
async def api_lifecycle_change(name: str, body: LifecycleIn, session: SessionDep,
                               admin: AdminOnly) -> LifecycleOut:
    return LifecycleOut(**await set_retired(session, name, admin.username, body.action))
