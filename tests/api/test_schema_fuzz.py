"""Fuzz the JSON API with schemathesis against the OpenAPI schema the real server serves.

The arena is a real uvicorn (embedded default: SQLite, in-process queue, the tiny models);
every request comes from one consented visitor (its signed cookie is in the session). Half
of the generated battle ids and image hashes are swapped, deterministically, for ones that
exist (an anonymous battle, a direct chat, a named comparison), so the fuzzer reaches the
battle views and the vote and follow-up rules, not only the 404s.

Checks: no 5xx, every status code documented, every response conforms to its schema (the
SSE stream's body is not JSON: for it only the status code and the content type).
Bounded: a fixed number of examples per operation, derandomized, no deadline.
"""

from __future__ import annotations

import asyncio
import copy
import re
import secrets
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.admin.accounts import create_user
from app.db.session import make_engine, make_sessionmaker
from app.web import admin_routes
from tests.api.conftest import consented, start_battle, wait_finished
from tests.arena.stack import ArenaStack, png_bytes

MAX_EXAMPLES = 30
ADMIN_EXAMPLES = 15
STREAM = "/api/battles/{battle_id}/stream"
MODELS = ["tiny-alpha", "tiny-beta"]


@pytest.fixture(scope="module")
def visitor(arena: ArenaStack) -> Iterator[requests.Session]:
    session = consented(arena.url)
    yield session
    session.close()


@pytest.fixture(scope="module")
def known(arena: ArenaStack, visitor: requests.Session) -> dict[str, list[str]]:
    """Battles of this visitor, finished, for the fuzzer to aim at."""
    battles = [
        start_battle(visitor, arena.url),
        start_battle(visitor, arena.url, mode="direct", model_a="tiny-alpha"),
    ]
    views = [wait_finished(visitor, arena.url, b["id"]) for b in battles]
    named = start_battle(visitor, arena.url, mode="side_by_side", model_a="tiny-alpha",
                         model_b="tiny-beta")
    views.append(wait_finished(visitor, arena.url, named["id"]))
    return {"battle_id": [v["id"] for v in views],
            "sha256": sorted({v["image"] for v in views})}


@pytest.fixture
def api_schema(arena: ArenaStack, known: dict[str, list[str]]) -> Any:
    return schemathesis.openapi.from_url(f"{arena.url}/openapi.json")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis (4.x) renames the test node per operation through `Node._nodeid`,
    # which pytest 9 no longer has; give it one (only the report's label depends on it).
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api_schema")


def _pick(value: Any, choices: list[Any], default: Any = ...) -> Any:
    """For about half the inputs, one of `choices` (always the same one for one input);
    else `default` (the input itself unless given)."""
    digest = zlib.crc32(repr(value).encode())
    if digest % 2 == 0:
        return choices[(digest // 2) % len(choices)]
    return value if default is ... else default


def aim(case: Any, known: dict[str, list[str]]) -> None:
    """Point part of the generated input at things that exist: this visitor's battles and
    images, a real image upload, the registry's model names."""
    params = case.path_parameters or {}
    for name, values in known.items():
        if name in params:
            params[name] = _pick(params[name], values)
    if case.operation.path == "/api/battles" and isinstance(case.body, dict):
        case.body["image"] = _pick(repr(case.body), [png_bytes()], case.body.get("image"))
        for field in ("model_a", "model_b"):
            if field in case.body:
                case.body[field] = _pick(case.body[field], MODELS)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(
    case: Any, arena: ArenaStack, visitor: requests.Session, known: dict[str, list[str]]
) -> None:
    aim(case, known)
    checks = [not_a_server_error, status_code_conformance, content_type_conformance]
    if case.operation.path != STREAM:
        checks.append(response_schema_conformance)
    case.call_and_validate(base_url=arena.url, session=visitor, checks=checks, timeout=60)


# ---------------------------------------------------------------- the admin JSON API
# /admin/api is left out of the public /docs (the whole admin router is), so its schema is
# built here from the same routes the server runs; requests come from a logged-in admin.


@pytest.fixture(scope="module")
def admin(arena: ArenaStack, known: dict[str, list[str]]) -> Iterator[requests.Session]:
    username, password = "fuzz-admin@example.org", secrets.token_urlsafe(18)

    async def add_admin() -> None:
        engine = make_engine(arena.env["ARENA_DATABASE_URL"])
        try:
            async with make_sessionmaker(engine)() as db:
                await create_user(db, username, password, "admin")
                await db.commit()
        finally:
            await engine.dispose()

    asyncio.run(add_admin())
    session = requests.Session()
    form = session.get(f"{arena.url}/admin/login", timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None, form.text
    r = session.post(f"{arena.url}/admin/login", allow_redirects=False, timeout=30,
                     data={"username": username, "password": password,
                           "csrf_token": token.group(1), "next": "/admin/"})
    assert r.status_code == 303, r.text
    me = session.get(f"{arena.url}/admin/api/me", timeout=30)
    assert me.status_code == 200, me.text
    session.headers["X-CSRF-Token"] = me.json()["csrf_token"]
    yield session
    session.close()


def admin_openapi() -> dict[str, Any]:
    routes = []
    for route in admin_routes.router.routes:
        if isinstance(route, APIRoute) and route.path.startswith("/admin/api/"):
            shown = copy.copy(route)
            shown.include_in_schema = True
            routes.append(shown)
    return get_openapi(title="vlm-arena admin API", version="0.1.0", routes=routes)


@pytest.fixture
def admin_schema(arena: ArenaStack, admin: requests.Session) -> Any:
    return schemathesis.openapi.from_dict(admin_openapi())


admin_api = schemathesis.pytest.from_fixture("admin_schema")


@admin_api.parametrize()
@settings(
    max_examples=ADMIN_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_admin_api_conforms_to_its_schema(
    case: Any, arena: ArenaStack, admin: requests.Session, known: dict[str, list[str]]
) -> None:
    params = case.path_parameters or {}
    if "battle_id" in params:
        params["battle_id"] = _pick(params["battle_id"], known["battle_id"])
    case.call_and_validate(
        base_url=arena.url, session=admin, timeout=60,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                response_schema_conformance],
    )
