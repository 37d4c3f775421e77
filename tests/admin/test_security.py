"""Access control of the admin dashboard: sessions, roles, CSRF, fixation, replay, the login
throttle, XSS, and bans taking effect. Routes are enumerated from the router, so a route
added later is covered without touching this file."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from app.admin.config import AdminConfig
from app.arena.visitors import hash_ip
from app.db.admin_tables import AdminSession, AuditLog
from app.db.models import Battle, Visitor, utcnow
from app.web.admin_routes import SESSION_COOKIE, required_roles, router
from tests.admin.conftest import (
    MODELS,
    client_for,
    login,
    session_cookie,
    set_session_cookie,
)
from tests.admin.seed import add_battle, add_model, add_user

ROUTES = sorted(
    (method, route.path, required_roles(route))
    for route in router.routes
    for method in route.methods  # type: ignore[attr-defined]
)
GUARDED = [(m, p) for m, p, roles in ROUTES if roles is not None]
ADMIN_ONLY = [(m, p) for m, p, roles in ROUTES if roles == ("admin",)]
STATE_CHANGING = [(m, p) for m, p in GUARDED if m not in ("GET", "HEAD")]


def concrete(path: str) -> str:
    """Fill path parameters with harmless values (the guard runs before any lookup)."""
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


def test_only_the_login_form_is_open() -> None:
    open_routes = {(m, p) for m, p, roles in ROUTES if roles is None}
    assert open_routes == {("GET", "/admin/login"), ("POST", "/admin/login")}
    assert len(GUARDED) > 20 and ADMIN_ONLY and STATE_CHANGING


@pytest.mark.parametrize(("method", "path"), GUARDED)
async def test_no_session_redirects_pages_and_refuses_api(
    admin_app: Any, method: str, path: str
) -> None:
    async with client_for(admin_app) as client:
        client.cookies.set(SESSION_COOKIE, "not-a-session", path="/admin")
        r = await client.request(method, concrete(path))
    if path.startswith("/admin/api"):
        assert r.status_code == 401, r.text
    else:
        assert r.status_code == 303, r.text
        assert r.headers["location"].startswith("/admin/login")


@pytest.mark.parametrize(("method", "path"), ADMIN_ONLY)
async def test_moderator_gets_403_on_admin_routes(
    staff_login: Any, method: str, path: str
) -> None:
    mod = await staff_login("moderator", shared_account=True)
    r = await mod.client.request(method, concrete(path), headers=mod.headers)
    assert r.status_code == 403, r.text


async def test_moderator_reaches_the_moderation_queue(staff_login: Any) -> None:
    mod = await staff_login("moderator", shared_account=True)
    assert (await mod.client.get("/admin/moderation")).status_code == 200
    assert (await mod.client.get("/admin/api/moderation")).status_code == 200


@pytest.mark.parametrize(("method", "path"), STATE_CHANGING)
async def test_state_change_without_csrf_token_is_403(
    staff_login: Any, method: str, path: str
) -> None:
    admin = await staff_login("admin", shared_account=True)
    r = await admin.client.request(method, concrete(path))
    assert r.status_code == 403, r.text
    r = await admin.client.request(method, concrete(path), headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403, r.text


async def test_refused_csrf_changes_nothing_and_the_right_token_works(
    staff_login: Any, sm: Any, blobs: Any
) -> None:
    admin = await staff_login("admin", shared_account=True)
    battle_id = await add_battle(sm, blobs, models=MODELS)
    path = f"/admin/moderation/{battle_id}/remove"
    assert (await admin.client.post(path, data={"csrf_token": "wrong"})).status_code == 403
    async with sm() as s:
        assert (await s.get(Battle, uuid.UUID(battle_id))).removed is False
        assert not (await s.scalars(
            select(AuditLog).where(AuditLog.target == f"battle:{battle_id}"))).all()
    # The form field works without JavaScript; the header works for htmx and the API.
    assert (await admin.client.post(path, data={"csrf_token": admin.csrf})).status_code == 200
    r = await admin.client.post(f"/admin/api/moderation/{battle_id}/restore",
                                headers=admin.headers)
    assert r.json() == {"review_status": "approved", "removed": False}


async def test_cookie_flags_and_fixation(admin_app: Any, sm: Any) -> None:
    username, password = await add_user(sm, "moderator")
    async with client_for(admin_app) as client:
        planted = "attacker-chosen-token"
        set_session_cookie(client, planted)
        r = await login(client, username, password)
        assert r.status_code == 303
        set_cookie = [v.lower() for k, v in r.headers.multi_items() if k == "set-cookie"
                      and v.startswith(SESSION_COOKIE + "=")][0]
        assert "httponly" in set_cookie and "samesite=strict" in set_cookie
        assert "path=/admin" in set_cookie
        first = session_cookie(client)
        assert first and first != planted
        # Logging in again (e.g. with a token an attacker got into this browser) rotates it.
        r = await login(client, username, password)
        second = session_cookie(client)
        assert second and second != first
    async with client_for(admin_app) as other:
        for token, works in ((planted, False), (first, False), (second, True)):
            set_session_cookie(other, token)
            r = await other.get("/admin/api/me")
            assert (r.status_code == 200) is works, token


async def test_replay_after_logout_fails(admin_app: Any, staff_login: Any) -> None:
    mod = await staff_login("moderator")
    token = session_cookie(mod.client)
    r = await mod.client.post("/admin/logout", headers=mod.headers)
    assert r.status_code == 303 and r.headers["location"] == "/admin/login"
    async with client_for(admin_app) as replay:
        set_session_cookie(replay, token)
        assert (await replay.get("/admin/api/me")).status_code == 401
        r = await replay.get("/admin/moderation")
        assert r.status_code == 303 and r.headers["location"].startswith("/admin/login")


async def test_expired_disabled_and_revoked_sessions_end(staff_login: Any, sm: Any) -> None:
    admin = await staff_login("admin")
    victim = await staff_login("moderator")
    users = (await admin.client.get("/admin/users")).text
    user_id = re.search(
        rf"{re.escape(victim.username)}.*?/admin/users/([0-9a-f-]+)/disable", users, re.S
    ).group(1)
    r = await admin.client.post(f"/admin/users/{user_id}/revoke-sessions", headers=admin.headers)
    assert r.status_code == 303
    assert (await victim.client.get("/admin/api/me")).status_code == 401
    # A new login works until the session expires.
    assert (await login(victim.client, victim.username, victim.password)).status_code == 303
    assert (await victim.client.get("/admin/api/me")).status_code == 200
    async with sm() as s:
        await s.execute(update(AdminSession).where(AdminSession.user_id == uuid.UUID(user_id))
                        .values(expires_at=utcnow() - timedelta(seconds=1)))
        await s.commit()
    assert (await victim.client.get("/admin/api/me")).status_code == 401
    assert (await login(victim.client, victim.username, victim.password)).status_code == 303
    r = await admin.client.post(f"/admin/users/{user_id}/disable", headers=admin.headers)
    assert r.status_code == 303
    assert (await victim.client.get("/admin/api/me")).status_code == 401
    assert (await login(victim.client, victim.username, victim.password)).status_code == 401


async def test_login_csrf_and_open_redirect(admin_app: Any, sm: Any) -> None:
    username, password = await add_user(sm, "moderator")
    async with client_for(admin_app) as client:
        r = await client.post("/admin/login", data={
            "username": username, "password": password, "csrf_token": "made-up"})
        assert r.status_code == 403
        r = await login(client, username, password, next_url="//evil.example/admin")
        assert r.status_code == 303 and r.headers["location"] == "/admin/"


async def test_login_throttle_locks_a_username_after_repeated_failures(
    admin_app: Any, sm: Any
) -> None:
    username, password = await add_user(sm, "admin")
    per_user = int(AdminConfig().login_failures_per_user.split()[0])
    async with client_for(admin_app, ip="10.9.9.9") as client:
        for _ in range(per_user):
            assert (await login(client, username, "wrong password!")).status_code == 401
        r = await login(client, username, password)  # right password, but locked now
        assert r.status_code == 429 and "Too many failed attempts" in r.text
    async with client_for(admin_app, ip="10.9.9.10") as other_ip:
        assert (await login(other_ip, username, password)).status_code == 429
    async with sm() as s:
        actions = (await s.scalars(select(AuditLog.action).where(
            AuditLog.target == f"admin_user:{username}"))).all()
    assert actions.count("admin.login_failed") == per_user and "admin.login_locked" in actions


XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'


async def test_xss_payloads_render_inert(staff_login: Any, sm: Any, blobs: Any) -> None:
    evil_model = '"><script>alert(1)</script>'
    await add_model(sm, evil_model)
    battle_id = await add_battle(
        sm, blobs, models=(evil_model, MODELS[0]), prompt=f"Prompt {XSS}",
        answers=(f"Answer {XSS}", "**bold** <b>raw</b>"), winner="model_a",
    )
    admin = await staff_login("admin", shared_account=True)
    await admin.client.post(f"/admin/moderation/{battle_id}/remove", headers=admin.headers)
    pages = ["/admin/moderation?status=all", "/admin/models", "/admin/",
             f"/admin/audit?target=battle:{battle_id}", "/admin/integrity"]
    for path in pages:
        r = await admin.client.get(path)
        assert r.status_code == 200, path
        assert "<script>window.__xss" not in r.text and "<script>alert(1)" not in r.text, path
        assert "onerror=\"window" not in r.text, path
        assert "default-src 'self'" in r.headers["content-security-policy"]
    queue = (await admin.client.get("/admin/moderation?status=all")).text
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in queue
    assert "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in queue


async def test_ban_takes_effect_on_the_next_request(admin_app: Any, staff_login: Any,
                                                    sm: Any) -> None:
    ip = "10.20.30.40"
    async with client_for(admin_app, ip=ip) as public:
        assert (await public.post("/api/consent", json={"accept": True})).status_code == 200
        assert (await public.get("/")).status_code == 200
        async with sm() as s:
            visitor = await s.scalar(select(Visitor).where(
                Visitor.ip_hash == hash_ip(ip, admin_app.state.arena.ip_salt)))
        mod = await staff_login("moderator")
        r = await mod.client.post(f"/admin/api/visitors/{visitor.id}/ban", headers=mod.headers)
        assert r.json() == {"banned": True}
        assert (await public.get("/")).status_code == 403
        assert (await public.post("/api/consent", json={"accept": True})).status_code == 403
        r = await mod.client.post(f"/admin/api/visitors/{visitor.id}/unban",
                                  headers=mod.headers)
        assert (await public.get("/")).status_code == 200
    async with sm() as s:
        entries = (await s.scalars(select(AuditLog).where(
            AuditLog.target == f"visitor:{visitor.id}").order_by(AuditLog.at))).all()
    assert [(e.action, e.actor, e.before, e.after) for e in entries] == [
        ("visitor.ban", mod.username, {"banned": False}, {"banned": True}),
        ("visitor.unban", mod.username, {"banned": True}, {"banned": False}),
    ]


async def test_network_ban_refuses_every_browser_on_it_and_creates_nothing(
    admin_app: Any, staff_login: Any, sm: Any
) -> None:
    from sqlalchemy import func

    ip = "10.20.30.99"
    ip_hash = hash_ip(ip, admin_app.state.arena.ip_salt)
    mod = await staff_login("moderator")
    r = await mod.client.post(f"/admin/api/ips/{ip_hash}/ban", headers=mod.headers)
    assert r.json() == {"banned": True}
    async with sm() as s:
        before = await s.scalar(select(func.count()).select_from(Visitor))
    async with client_for(admin_app, ip=ip) as newcomer:
        r = await newcomer.get("/")
        assert r.status_code == 403 and "network" in r.text
        r = await newcomer.post("/api/consent", json={"accept": True})
        assert r.status_code == 403
    async with sm() as s:
        assert await s.scalar(select(func.count()).select_from(Visitor)) == before
    async with client_for(admin_app, ip="10.20.30.98") as neighbour:
        assert (await neighbour.get("/")).status_code == 200  # other networks unaffected
    r = await mod.client.post(f"/admin/api/ips/{ip_hash}/unban", headers=mod.headers)
    assert r.json() == {"banned": False}
    async with client_for(admin_app, ip=ip) as newcomer:
        assert (await newcomer.get("/")).status_code == 200
    r = await mod.client.post(f"/admin/api/ips/{'z' * 64}/ban", headers=mod.headers)
    assert r.status_code == 404
