"""The admin dashboard: pages (htmx) and a small JSON API under /admin/api.

Every route but the login form depends on `require_role(...)`, which needs a live session
cookie (else 401: a redirect to the login page for pages), the right role (else 403) and,
for every state-changing method, the session's CSRF token in the `X-CSRF-Token` header or
a `csrf_token` form field (else 403). `AdminRoute` turns those refusals into the right
response for a page, an htmx request or the API, and adds no-store / anti-framing headers.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from app.admin import audit
from app.admin.accounts import (
    AccountError,
    authenticate,
    create_user,
    get_user,
    list_users,
    normalise_username,
    user_json,
)
from app.admin.charts import line_chart_svg
from app.admin.config import AdminConfig
from app.admin.errors import NotFound
from app.admin.integrity import (
    IntegrityParams,
    excluded_votes,
    integrity_report,
    ranking_robustness,
    set_votes_excluded,
)
from app.admin.moderation_queue import (
    BATTLE_ACTIONS,
    STATUSES,
    QueueFilter,
    get_item,
    list_queue,
    moderate_battle,
    set_ip_banned,
    set_visitor_banned,
)
from app.admin.ops import (
    daily_activity,
    disk_usage_bytes,
    leaderboard_status,
    model_status,
    update_model,
)
from app.admin.passwords import WeakPasswordError
from app.admin.sessions import (
    ActiveSession,
    csrf_matches,
    load_session,
    revoke_session,
    revoke_user_sessions,
    start_session,
)
from app.admin.throttle import LoginThrottle
from app.arena.battles import image_in_kept_battle
from app.config import REPO_ROOT
from app.db.models import Battle, ModelEntry, Vote
from app.storage.blobs import BlobNotFound
from app.web.deps import SessionDep, StateDep, client_ip_hash
from app.web.proxy import cookie_secure
from app.web.schemas import (
    AdminMe,
    AdminOverview,
    AuditEntryOut,
    BanState,
    IntegrityOut,
    ModelStatusOut,
    ModelSwitches,
    ModerationState,
    QueueItemOut,
    VotesChanged,
    error_responses,
)

SESSION_COOKIE = "arena_admin"
LOGIN_COOKIE = "arena_admin_login"
COOKIE_PATH = "/admin"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
}

templates = Jinja2Templates(directory=str(Path(REPO_ROOT) / "templates"))


class AdminDenied(Exception):
    """401 (no live session), 403 (wrong role or CSRF token) or 429 (login throttle)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/admin/api")


def _error_page(request: Request, message: str, status: int) -> Response:
    if request.headers.get("HX-Request"):
        response = templates.TemplateResponse(
            request, "admin/_message.html", {"message": message, "error": True},
            status_code=status,
        )
        response.headers["HX-Retarget"] = "#errors"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return templates.TemplateResponse(
        request, "admin/error.html", {"message": message, "admin": None}, status_code=status
    )


def denied_response(request: Request, exc: AdminDenied) -> Response:
    if _is_api(request):
        return JSONResponse({"detail": exc.message}, status_code=exc.status)
    if exc.status == 401:
        target = request.url.path if request.method in SAFE_METHODS else "/admin/"
        login = f"/admin/login?next={quote(target, safe='/')}"
        if request.headers.get("HX-Request"):
            return Response(status_code=204, headers={"HX-Redirect": login})
        return RedirectResponse(login, status_code=303)
    return _error_page(request, exc.message, exc.status)


class AdminRoute(APIRoute):
    """Turns AdminDenied / NotFound / ValueError into responses; adds security headers."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                response = await handler(request)
            except AdminDenied as exc:
                response = denied_response(request, exc)
            except NotFound as exc:
                response = _failure(request, str(exc) or "Not found.", 404)
            except (ValueError, AccountError) as exc:
                response = _failure(request, str(exc), 422)
            for key, value in SECURITY_HEADERS.items():
                response.headers.setdefault(key, value)
            return response

        return guarded


def _failure(request: Request, message: str, status: int) -> Response:
    if _is_api(request):
        return JSONResponse({"detail": message}, status_code=status)
    return _error_page(request, message, status)


router = APIRouter(prefix="/admin", include_in_schema=False, route_class=AdminRoute)


# ---------------------------------------------------------------- configuration, guards

def admin_config(request: Request) -> AdminConfig:
    config = getattr(request.app.state, "admin_config", None)
    if config is None:
        settings = request.app.state.arena.settings
        config = AdminConfig(cookie_secure=settings.cookie_secure)
        request.app.state.admin_config = config
    return config


def login_throttle(request: Request) -> LoginThrottle:
    throttle = getattr(request.app.state, "admin_throttle", None)
    if throttle is None:
        config = admin_config(request)
        throttle = LoginThrottle(config.throttle_storage_uri, config.login_failures_per_user,
                                 config.login_failures_per_ip)
        request.app.state.admin_throttle = throttle
    return throttle


async def _submitted_csrf(request: Request) -> str | None:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get("csrf_token")
        return value if isinstance(value, str) else None
    return None


async def current_admin(request: Request, session: SessionDep) -> ActiveSession:
    active = await load_session(session, request.cookies.get(SESSION_COOKIE))
    if active is None:
        raise AdminDenied(401, "Please log in.")
    if request.method not in SAFE_METHODS and not csrf_matches(
        active.csrf_token, await _submitted_csrf(request)
    ):
        raise AdminDenied(403, "The form's security token is missing or out of date. "
                                   "Reload the page and try again.")
    request.state.admin = active
    return active


def require_role(*roles: str) -> Callable[..., Awaitable[ActiveSession]]:
    async def dependency(
        active: Annotated[ActiveSession, Depends(current_admin)],
    ) -> ActiveSession:
        if active.role not in roles:
            raise AdminDenied(403, "Your role does not allow this page.")
        return active

    dependency.roles = roles  # type: ignore[attr-defined]  # read by required_roles()
    return dependency


require_staff = require_role("admin", "moderator")
require_admin = require_role("admin")
Staff = Annotated[ActiveSession, Depends(require_staff)]
AdminOnly = Annotated[ActiveSession, Depends(require_admin)]


def required_roles(route: APIRoute) -> tuple[str, ...] | None:
    """The roles a route admits, or None for a route open without a session (login)."""
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        roles = getattr(dep.call, "roles", None)
        if roles is not None:
            return tuple(roles)
        stack.extend(dep.dependencies)
    return None


def _page(request: Request, name: str, admin: ActiveSession | None, status: int = 200,
          **ctx: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request, name, {"admin": admin, **ctx}, status_code=status
    )


# ---------------------------------------------------------------- login and logout

def _safe_next(target: str | None) -> str:
    if target and target.startswith("/admin") and not target.startswith("//") \
            and "\\" not in target and not target.startswith("/admin/login"):
        return target
    return "/admin/"


def _set_cookie(response: Response, request: Request, name: str, value: str,
                max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=COOKIE_PATH, httponly=True, samesite="strict",
        secure=cookie_secure(admin_config(request).cookie_secure, request.url.scheme),
    )


def _login_form(request: Request, status: int = 200, error: str | None = None,
                next_url: str = "/admin/", username: str = "") -> Response:
    token = secrets.token_urlsafe(32)
    response = _page(request, "admin/login.html", None, status=status, csrf=token,
                     error=error, next=_safe_next(next_url), username=username)
    _set_cookie(response, request, LOGIN_COOKIE, token, 3600)
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/admin/"):
    # Always a fresh form, even for a logged-in browser: logging in again rotates the token.
    return _login_form(request, next_url=next)


@router.post("/login")
async def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/admin/",
):
    # Login CSRF: the form's token must equal the cookie set with the form (double submit).
    if not csrf_matches(request.cookies.get(LOGIN_COOKIE, ""), csrf_token):
        raise AdminDenied(403, "The login form expired. Reload the page and try again.")
    name = normalise_username(username)[:254]
    ip = client_ip_hash(request)
    throttle = login_throttle(request)
    lock = await throttle.check(name, ip)
    if lock.locked:
        audit.record(session, name or "?", "admin.login_locked", f"admin_user:{name}")
        await session.commit()
        return _login_form(request, 429, f"Too many failed attempts. Try again in "
                           f"{lock.retry_after_s} seconds.", next, name)
    user = await authenticate(session, name, password)
    if user is None:
        await throttle.failed(name, ip)
        audit.record(session, name or "?", "admin.login_failed", f"admin_user:{name}")
        await session.commit()
        await asyncio.sleep(admin_config(request).login_failure_delay_s)
        return _login_form(request, 401, "Wrong username or password.", next, name)
    await throttle.succeeded(name)
    old = request.cookies.get(SESSION_COOKIE)
    if old:  # never promote a token that existed before this login
        await revoke_session(session, old)
    token = await start_session(session, user, admin_config(request).session_ttl_s)
    audit.record(session, user.username, "admin.login", f"admin_user:{user.id}")
    await session.commit()
    response = RedirectResponse(_safe_next(next), status_code=303)
    _set_cookie(response, request, SESSION_COOKIE, token, admin_config(request).session_ttl_s)
    response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH)
    return response


@router.post("/logout")
async def logout(request: Request, session: SessionDep, admin: Staff):
    await revoke_session(session, admin.token)
    audit.record(session, admin.username, "admin.logout", f"admin_user:{admin.user_id}")
    await session.commit()
    response = RedirectResponse("/admin/login", status_code=303)
    if request.headers.get("HX-Request"):
        response = Response(status_code=204, headers={"HX-Redirect": "/admin/login"})
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


# ---------------------------------------------------------------- overview

async def _overview(session: SessionDep, state: StateDep) -> dict[str, Any]:
    activity = await daily_activity(session)
    in_review = await session.scalar(
        select(func.count()).select_from(Battle).where(Battle.review_status == "review")
    )
    excluded = await session.scalar(
        select(func.count()).select_from(Vote).where(Vote.excluded.is_(True))
    )
    return {
        "activity": activity,
        "in_review": int(in_review or 0),
        "excluded_votes": int(excluded or 0),
        "disk_bytes": await disk_usage_bytes(state.blobs),
        "leaderboard": await leaderboard_status(session),
    }


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request, session: SessionDep, state: StateDep, admin: Staff):
    return _page(request, "admin/overview.html", admin, **await _overview(session, state))


@router.get("/charts/{kind}.svg")
async def chart(kind: str, session: SessionDep, admin: Staff):
    activity = await daily_activity(session)
    if kind == "battles":
        svg = await line_chart_svg("Battles per day, per model", activity.days,
                                   activity.battles)
    elif kind == "votes":
        svg = await line_chart_svg("Votes per day, per model", activity.days, activity.votes)
    else:
        raise NotFound("no such chart")
    return Response(svg, media_type="image/svg+xml")


# ---------------------------------------------------------------- moderation queue

def _day_start(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
    except ValueError as exc:
        raise ValueError("dates look like 2026-11-22") from exc


def _queue_filter(status: str, reason: str | None, model: str | None, since: str | None,
                  until: str | None, limit: int) -> QueueFilter:
    if status not in (*STATUSES, "all"):
        raise ValueError(f"status must be one of {', '.join(STATUSES)} or all")
    end = _day_start(until)
    return QueueFilter(
        status=status, reason=reason or None, model=model or None, since=_day_start(since),
        until=end + timedelta(days=1) if end else None, limit=max(1, min(limit, 200)),
    )


async def _model_names(session: SessionDep) -> list[str]:
    return list((await session.scalars(select(ModelEntry.name).order_by(ModelEntry.name))).all())


@router.get("/moderation", response_class=HTMLResponse)
async def moderation_page(
    request: Request, session: SessionDep, admin: Staff,
    status: str = "review", reason: str = "", model: str = "", since: str = "",
    until: str = "", limit: Annotated[int, Query(ge=1, le=200)] = 50,
):
    flt = _queue_filter(status, reason, model, since, until, limit)
    items = await list_queue(session, flt)
    return _page(request, "admin/moderation.html", admin, items=items, flt=flt,
                 statuses=(*STATUSES, "all"), models=await _model_names(session),
                 reasons=("nsfw", "abuse", "pii"),
                 form={"since": since, "until": until})


async def _queue_card(request: Request, session: SessionDep, admin: ActiveSession,
                      battle_id: str) -> Response:
    item = await get_item(session, battle_id)
    return _page(request, "admin/_queue_item.html", admin, item=item)


@router.post("/moderation/{battle_id}/{action}", response_class=HTMLResponse)
async def moderate(request: Request, battle_id: str, action: str, session: SessionDep,
                   admin: Staff):
    if action not in BATTLE_ACTIONS:
        raise NotFound("no such action")
    await moderate_battle(session, battle_id, action, admin.username)
    return await _queue_card(request, session, admin, battle_id)


@router.post("/visitors/{visitor_id}/{action}", response_class=HTMLResponse)
async def ban_visitor(request: Request, visitor_id: str, action: str, session: SessionDep,
                      admin: Staff, battle_id: Annotated[str, Form()] = ""):
    if action not in ("ban", "unban"):
        raise NotFound("no such action")
    await set_visitor_banned(session, visitor_id, action == "ban", admin.username)
    return await _after_ban(request, session, admin, battle_id, "Visitor", action)


@router.post("/ips/{ip_hash}/{action}", response_class=HTMLResponse)
async def ban_ip(request: Request, ip_hash: str, action: str, session: SessionDep,
                 admin: Staff, battle_id: Annotated[str, Form()] = ""):
    if action not in ("ban", "unban"):
        raise NotFound("no such action")
    await set_ip_banned(session, ip_hash, action == "ban", admin.username)
    return await _after_ban(request, session, admin, battle_id, "Network", action)


async def _after_ban(request: Request, session: Any, admin: Any, battle_id: str,
                     what: str, action: str) -> HTMLResponse:
    """From the queue: the refreshed card; elsewhere: a one-line confirmation."""
    if battle_id:
        return await _queue_card(request, session, admin, battle_id)
    return _page(request, "admin/_message.html", admin,
                 message=f"{what} {'banned' if action == 'ban' else 'unbanned'}.")


@router.get("/images/{sha256}")
async def image(sha256: str, session: SessionDep, state: StateDep, admin: Staff):
    if not await image_in_kept_battle(session, sha256):
        raise NotFound("no such image")
    try:
        data = await state.blobs.get(sha256)
    except (BlobNotFound, ValueError) as exc:
        raise NotFound("no such image") from exc
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, no-store"})


# ---------------------------------------------------------------- vote integrity

async def _integrity(session: SessionDep, days: int) -> dict[str, Any]:
    report = await integrity_report(session, IntegrityParams(since_days=days))
    return {"report": report, "excluded": await excluded_votes(session), "days": days,
            "robustness": await ranking_robustness(session)}


@router.get("/integrity", response_class=HTMLResponse)
async def integrity_page(request: Request, session: SessionDep, admin: AdminOnly,
                         days: Annotated[int, Query(ge=1, le=365)] = 30):
    return _page(request, "admin/integrity.html", admin, **await _integrity(session, days))


@router.post("/integrity/{action}", response_class=HTMLResponse)
async def integrity_action(
    request: Request, action: str, session: SessionDep, admin: AdminOnly,
    battle_ids: Annotated[list[str], Form()], reason: Annotated[str, Form()] = "",
):
    if action not in ("exclude", "include"):
        raise NotFound("no such action")
    changed = await set_votes_excluded(session, battle_ids, action == "exclude",
                                       reason.strip()[:500] or None, admin.username)
    verb = "excluded from" if action == "exclude" else "included again in"
    return _page(request, "admin/_message.html", admin,
                 message=f"{changed} vote(s) {verb} the ranking.")


# ---------------------------------------------------------------- models / operations

@router.get("/models", response_class=HTMLResponse)
async def models_page(request: Request, session: SessionDep, state: StateDep,
                      admin: AdminOnly):
    return _page(request, "admin/models.html", admin,
                 models=await model_status(session, state.queue))


@router.get("/models/live", response_class=HTMLResponse)
async def models_live(request: Request, session: SessionDep, state: StateDep,
                      admin: AdminOnly):
    return _page(request, "admin/_models_live.html", admin,
                 models=await model_status(session, state.queue))


def _checkbox(value: str | None) -> bool:
    return value in ("on", "true", "1", "yes")


@router.post("/models/{name}", response_class=HTMLResponse)
async def model_update(
    request: Request, name: str, session: SessionDep, admin: AdminOnly,
    weight: Annotated[float, Form()], enabled: Annotated[str | None, Form()] = None,
    outage: Annotated[str | None, Form()] = None,
):
    after = await update_model(session, name, admin.username, enabled=_checkbox(enabled),
                               weight=weight, outage=_checkbox(outage))
    return _page(request, "admin/_message.html", admin,
                 message=f"{name}: enabled={after['enabled']}, weight={after['weight']:g}, "
                         f"outage={after['outage']}.")


# ---------------------------------------------------------------- audit log and users

@router.get("/audit", response_class=HTMLResponse)
async def audit_page(request: Request, session: SessionDep, admin: AdminOnly,
                     actor: str = "", action: str = "", target: str = "",
                     limit: Annotated[int, Query(ge=1, le=1000)] = 200):
    rows = await audit.entries(session, actor=actor or None, action=action or None,
                               target=target or None, limit=limit)
    return _page(request, "admin/audit.html", admin, entries=rows,
                 form={"actor": actor, "action": action, "target": target})


@router.get("/users", response_class=HTMLResponse)
async def users_page(request: Request, session: SessionDep, admin: AdminOnly):
    return _page(request, "admin/users.html", admin, users=await list_users(session))


@router.post("/users", response_class=HTMLResponse)
async def user_create(
    request: Request, session: SessionDep, admin: AdminOnly,
    username: Annotated[str, Form()], password: Annotated[str, Form()],
    role: Annotated[str, Form()] = "moderator",
):
    try:
        user = await create_user(session, username, password, role)
    except WeakPasswordError as exc:
        raise ValueError(str(exc)) from exc
    audit.record(session, admin.username, "admin_user.create", f"admin_user:{user.id}",
                 None, user_json(user))
    await session.commit()
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/users/{user_id}/{action}", response_class=HTMLResponse)
async def user_action(request: Request, user_id: str, action: str, session: SessionDep,
                      admin: AdminOnly):
    user = await get_user(session, user_id)
    if user is None or action not in ("disable", "enable", "revoke-sessions"):
        raise NotFound("no such user or action")
    before = user_json(user)
    if action == "revoke-sessions":
        n = await revoke_user_sessions(session, user.id)
        audit.record(session, admin.username, "admin_user.revoke_sessions",
                     f"admin_user:{user.id}", {"live_sessions": n}, {"live_sessions": 0})
    else:
        if user.id == admin.user_id:
            raise ValueError("you cannot disable your own account")
        user.disabled = action == "disable"
        if user.disabled:
            await revoke_user_sessions(session, user.id)
        audit.record(session, admin.username, f"admin_user.{action}",
                     f"admin_user:{user.id}", before, user_json(user))
    await session.commit()
    return RedirectResponse("/admin/users", status_code=303)


# ---------------------------------------------------------------- JSON API

class ExcludeBody(BaseModel):
    battle_ids: list[str] = Field(min_length=1, max_length=10_000)
    reason: str | None = Field(default=None, max_length=500)


class ModelBody(BaseModel):
    enabled: bool | None = None
    weight: float | None = None
    outage: bool | None = None


STAFF_ERRORS = error_responses(401, 403, 422, 503)
ACTION_ERRORS = error_responses(401, 403, 404, 422, 503)
BODY_ERRORS = error_responses(400, 401, 403, 404, 422, 503)


@router.get("/api/me", responses=STAFF_ERRORS)
async def api_me(admin: Staff) -> AdminMe:
    return AdminMe(username=admin.username, role=admin.role,
                   expires_at=admin.expires_at.isoformat(), csrf_token=admin.csrf_token)


@router.get("/api/overview", responses=STAFF_ERRORS)
async def api_overview(session: SessionDep, state: StateDep, admin: Staff) -> AdminOverview:
    data = await _overview(session, state)
    data["activity"] = data["activity"].__dict__
    return AdminOverview.model_validate(_jsonable(data))


@router.get("/api/moderation", responses=STAFF_ERRORS)
async def api_moderation(
    session: SessionDep, admin: Staff, status: str = "review", reason: str = "",
    model: str = "", since: str = "", until: str = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[QueueItemOut]:
    flt = _queue_filter(status, reason, model, since, until, limit)
    return [QueueItemOut.model_validate(item.to_json())
            for item in await list_queue(session, flt)]


@router.post("/api/moderation/{battle_id}/{action}", responses=ACTION_ERRORS)
async def api_moderate(battle_id: str, action: str, session: SessionDep,
                       admin: Staff) -> ModerationState:
    if action not in BATTLE_ACTIONS:
        raise NotFound("no such action")
    return ModerationState.model_validate(
        await moderate_battle(session, battle_id, action, admin.username)
    )


@router.post("/api/visitors/{visitor_id}/{action}", responses=ACTION_ERRORS)
async def api_ban(visitor_id: str, action: str, session: SessionDep, admin: Staff) -> BanState:
    if action not in ("ban", "unban"):
        raise NotFound("no such action")
    return BanState.model_validate(
        await set_visitor_banned(session, visitor_id, action == "ban", admin.username)
    )


@router.post("/api/ips/{ip_hash}/{action}", responses=ACTION_ERRORS)
async def api_ban_ip(ip_hash: str, action: str, session: SessionDep, admin: Staff) -> BanState:
    if action not in ("ban", "unban"):
        raise NotFound("no such action")
    return BanState.model_validate(
        await set_ip_banned(session, ip_hash, action == "ban", admin.username)
    )


@router.get("/api/integrity", responses=STAFF_ERRORS)
async def api_integrity(session: SessionDep, admin: AdminOnly,
                        days: Annotated[int, Query(ge=1, le=365)] = 30) -> IntegrityOut:
    report = (await _integrity(session, days))["report"]
    return IntegrityOut.model_validate(_jsonable({
        "votes_considered": report.votes_considered,
        "disagreement": [f.__dict__ for f in report.disagreement],
        "fast": [f.__dict__ for f in report.fast],
        "bursts": [b.__dict__ for b in report.bursts],
        "params": report.params.__dict__,
    }))


@router.post("/api/votes/{action}", responses=BODY_ERRORS)
async def api_votes(action: str, body: ExcludeBody, session: SessionDep,
                    admin: AdminOnly) -> VotesChanged:
    if action not in ("exclude", "include"):
        raise NotFound("no such action")
    changed = await set_votes_excluded(session, body.battle_ids, action == "exclude",
                                       body.reason, admin.username)
    return VotesChanged(changed=changed)


@router.get("/api/models", responses=STAFF_ERRORS)
async def api_models(session: SessionDep, state: StateDep,
                     admin: AdminOnly) -> list[ModelStatusOut]:
    return [ModelStatusOut.model_validate(m.to_json())
            for m in await model_status(session, state.queue)]


@router.post("/api/models/{name}", responses=BODY_ERRORS)
async def api_model_update(name: str, body: ModelBody, session: SessionDep,
                           admin: AdminOnly) -> ModelSwitches:
    return ModelSwitches.model_validate(
        await update_model(session, name, admin.username, enabled=body.enabled,
                           weight=body.weight, outage=body.outage)
    )


@router.get("/api/audit", responses=STAFF_ERRORS)
async def api_audit(session: SessionDep, admin: AdminOnly, actor: str = "", action: str = "",
                    target: str = "",
                    limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[AuditEntryOut]:
    rows = await audit.entries(session, actor=actor or None, action=action or None,
                               target=target or None, limit=limit)
    return [
        AuditEntryOut(id=str(e.id), at=e.at.isoformat(), actor=e.actor, action=e.action,
                      target=e.target, before=e.before, after=e.after)
        for e in rows
    ]


def _jsonable(value: Any) -> Any:
    from fastapi.encoders import jsonable_encoder

    return jsonable_encoder(value)


# ---------------------------------------------------------------- jobs (generation attempts)
# Every generation with its attempt records, counts, stuck work and anomalies (an answer
# generated again after it finished): app/admin/jobs.py. Admin-only, like the models page.

from urllib.parse import urlencode  # noqa: E402

from app.admin.jobs import (  # noqa: E402
    JOB_STATUSES,
    MAX_LIMIT,
    OUTCOMES,
    JobFilter,
    JobsView,
    StatusFilter,
    job_models,
    jobs_view,
)


def _job_query(
    status: StatusFilter = "all", model: str = "", retried: bool = False,
    anomalies: bool = False, stuck_minutes: Annotated[int, Query(ge=1, le=1440)] = 10,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> tuple[JobFilter, int]:
    flt = JobFilter(status=status, model=model.strip() or None, retried=retried,
                    anomalies=anomalies, limit=limit, offset=offset)
    return flt, stuck_minutes


JobQuery = Annotated[tuple[JobFilter, int], Depends(_job_query)]


def _jobs_url(flt: JobFilter, stuck_minutes: int, offset: int) -> str:
    params: dict[str, str | int] = {"status": flt.status, "model": flt.model or ""}
    if flt.retried:
        params["retried"] = "true"
    if flt.anomalies:
        params["anomalies"] = "true"
    params.update(stuck_minutes=stuck_minutes, limit=flt.limit, offset=offset)
    return f"/admin/jobs?{urlencode(params)}"


@router.get("/jobs", response_class=HTMLResponse)
async def jobs_page(request: Request, session: SessionDep, admin: AdminOnly, query: JobQuery):
    flt, stuck_minutes = query
    view = await jobs_view(session, flt, stuck_minutes)
    newer = max(0, flt.offset - flt.limit)
    return _page(
        request, "admin/jobs.html", admin, view=view, statuses=("all", *JOB_STATUSES),
        outcomes=OUTCOMES, models=await job_models(session),
        prev_url=_jobs_url(flt, stuck_minutes, newer) if flt.offset else None,
        next_url=_jobs_url(flt, stuck_minutes, flt.offset + flt.limit)
        if view.has_more else None,
    )


@router.get("/api/jobs", responses=STAFF_ERRORS)
async def api_jobs(session: SessionDep, admin: AdminOnly, query: JobQuery) -> JobsView:
    flt, stuck_minutes = query
    return await jobs_view(session, flt, stuck_minutes)


# ---------------------------------------------------------------- judges (judge runs)
# Judge runs with progress, cost (tokens) and failures; one run's failed and unparsable
# judgments (raw output escaped); starting a category pass: app/admin/judge_runs.py.
# Admin-only, like the jobs view; starting a pass is audited.

from app.admin.judge_runs import (  # noqa: E402
    MAX_RUNS,
    CategoryPassBody,
    CategoryPassStarted,
    JudgeRunDetail,
    JudgeRunsView,
    judge_runs_view,
    run_detail,
    start_category_pass,
)


@router.get("/judges", response_class=HTMLResponse)
async def judges_page(request: Request, session: SessionDep, admin: AdminOnly,
                      limit: Annotated[int, Query(ge=1, le=MAX_RUNS)] = 50, kind: str = ""):
    view = await judge_runs_view(session, limit, kind.strip() or None)
    return _page(request, "admin/judges.html", admin, view=view, detail=None,
                 agreement=await judge_agreement_view(session))


@router.get("/judges/{run_id}", response_class=HTMLResponse)
async def judge_run_page(request: Request, run_id: str, session: SessionDep,
                         admin: AdminOnly):
    detail = await run_detail(session, run_id)
    view = await judge_runs_view(session)
    return _page(request, "admin/judges.html", admin, view=view, detail=detail,
                 agreement=await judge_agreement_view(session))


# Judge-human agreement (VLFeedback ratings vs decisive votes): app/admin/judge_agreement.py
from app.admin.judge_agreement import (  # noqa: E402
    JudgeAgreementView,
    agreement_plot_svg,
    judge_agreement_view,
)


@router.get("/judge-agreement.svg")
async def judge_agreement_svg(session: SessionDep, admin: AdminOnly) -> Response:
    svg = await agreement_plot_svg(await judge_agreement_view(session))
    return Response(svg, media_type="image/svg+xml")


@router.get("/api/judge-agreement", responses=STAFF_ERRORS)
async def api_judge_agreement(session: SessionDep, admin: AdminOnly) -> JudgeAgreementView:
    return await judge_agreement_view(session)


@router.post("/judges/category-pass", response_class=HTMLResponse)
async def judges_category_pass(
    request: Request, session: SessionDep, state: StateDep, admin: AdminOnly,
    judge: Annotated[str, Form()], category_set: Annotated[str, Form()],
    template: Annotated[str, Form()] = "", limit: Annotated[int, Form()] = 200,
):
    body = CategoryPassBody(judge=judge, category_set=category_set,
                            template=template.strip() or None, limit=limit)
    started = await start_category_pass(session, state.queue, body, actor=admin.username,
                                        models_file=state.settings.models_file)
    if started.run_id is None:
        message = (f"No battle needed a judgment ({started.battles} battles, "
                   f"{started.skipped} labels skipped).")
    else:
        message = (f"Started run {started.run_id}: {started.battles} battles, "
                   f"{started.judgments} judgments ({started.version}).")
    if not request.headers.get("HX-Request"):
        target = f"/admin/judges/{started.run_id}" if started.run_id else "/admin/judges"
        return RedirectResponse(target, status_code=303)
    return _page(request, "admin/_message.html", admin, message=message)


@router.get("/api/judge-runs", responses=STAFF_ERRORS)
async def api_judge_runs(session: SessionDep, admin: AdminOnly,
                         limit: Annotated[int, Query(ge=1, le=MAX_RUNS)] = 50,
                         kind: str = "") -> JudgeRunsView:
    return await judge_runs_view(session, limit, kind.strip() or None)


@router.get("/api/judge-runs/{run_id}", responses=ACTION_ERRORS)
async def api_judge_run(run_id: str, session: SessionDep, admin: AdminOnly) -> JudgeRunDetail:
    return await run_detail(session, run_id)


@router.post("/api/judge-runs", responses=BODY_ERRORS)
async def api_start_category_pass(body: CategoryPassBody, session: SessionDep, state: StateDep,
                                  admin: AdminOnly) -> CategoryPassStarted:
    return await start_category_pass(session, state.queue, body, actor=admin.username,
                                     models_file=state.settings.models_file)
