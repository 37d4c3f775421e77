"""Fixtures for the admin dashboard: the app on the real PostgreSQL with the admin router
included, logged-in httpx clients per role, and (for browser tests) Chromium and a real
uvicorn serving tests/admin/serve_app.py."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI

from app.admin.config import AdminConfig
from app.config import REPO_ROOT, Settings
from app.web.admin_routes import SESSION_COOKIE
from tests.admin.seed import add_user
from tests.conftest import IN_CI, _pg_admin, free_port

MODELS = ("alpha-vlm", "beta-vlm")
CHROMIUM = os.environ.get("ARENA_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture(scope="session")
def admin_models_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry of two models; nothing loads them (no workers run in admin tests)."""
    path = tmp_path_factory.mktemp("admin-registry") / "models.yaml"
    path.write_text(yaml.safe_dump({"models": [
        {"name": name, "backend": "openai", "path": "http://127.0.0.1:9/v1"} for name in MODELS
    ]}))
    return path


def admin_test_settings(pg_url: str, data_dir: Path, models_file: Path) -> Settings:
    return Settings(
        database_url=pg_url, redis_url=None, data_dir=data_dir, models_file=models_file,
        secret_key="admin-tests-secret-key-0123456789", ip_hash_salt="admin-tests-salt",
    )


@pytest.fixture(scope="session")
def admin_pg_url(pg_url: str) -> Iterator[str]:
    """A PostgreSQL database of the admin tests' own (on the same server as `pg_url`, which
    must be reachable), so the rows seeded here never reach other tests' counts."""
    name = f"arena_admin_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = f"{pg_url.rsplit('/', 1)[0]}/{name}"
    from app.db.migrate import upgrade

    upgrade(url)
    yield url
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
async def admin_app(
    admin_pg_url: str, admin_models_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FastAPI]:
    """create_app(...) with the admin router included (as app/web/main.py will do)."""
    from app.web import admin_routes
    from app.web.main import create_app

    app = create_app(admin_test_settings(
        admin_pg_url, tmp_path_factory.mktemp("admin-data"), admin_models_file
    ))
    app.include_router(admin_routes.router)
    app.state.admin_config = AdminConfig(login_failure_delay_s=0.0)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
def sm(admin_app: FastAPI) -> Any:
    return admin_app.state.arena.sessionmaker


@pytest.fixture(scope="session")
def blobs(admin_app: FastAPI) -> Any:
    return admin_app.state.arena.blobs


def client_for(app: FastAPI, ip: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


LOGIN_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def login(client: httpx.AsyncClient, username: str, password: str,
                next_url: str = "/admin/") -> httpx.Response:
    page = await client.get("/admin/login")
    token = LOGIN_CSRF.search(page.text)
    assert token, page.text
    return await client.post("/admin/login", data={
        "username": username, "password": password, "csrf_token": token.group(1),
        "next": next_url,
    })


class Staff:
    """A logged-in httpx client, its CSRF token and its account."""

    def __init__(self, client: httpx.AsyncClient, username: str, password: str) -> None:
        self.client = client
        self.username = username
        self.password = password
        self.csrf = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}


def set_session_cookie(client: httpx.AsyncClient, token: str) -> None:
    """Put `token` in the jar where the server's own Set-Cookie would have put it."""
    client.cookies.set(SESSION_COOKIE, token, domain="testserver.local", path="/admin")


def session_cookie(client: httpx.AsyncClient) -> str | None:
    return client.cookies.get(SESSION_COOKIE, domain="testserver.local", path="/admin")


@pytest.fixture(scope="session")
async def staff_login(admin_app: FastAPI, sm: Any) -> AsyncIterator[Callable[..., Any]]:
    """`await staff_login("admin")` → a Staff whose client holds a live session, for a new
    account; `await staff_login("admin", shared=True)` reuses one per role (faster: Argon2
    is deliberately slow) for tests that do not log out, revoke or disable."""
    clients: list[httpx.AsyncClient] = []
    shared: dict[str, Staff] = {}

    async def make(role: str, shared_account: bool = False) -> Staff:
        if shared_account and role in shared:
            return shared[role]
        username, password = await add_user(sm, role)
        client = client_for(admin_app)
        clients.append(client)
        r = await login(client, username, password)
        assert r.status_code == 303, r.text
        staff = Staff(client, username, password)
        staff.csrf = (await client.get("/admin/api/me")).json()["csrf_token"]
        if shared_account:
            shared[role] = staff
        return staff

    yield make
    for c in clients:
        await c.aclose()


# ---------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        message = ("Chromium is missing: apt-get update && apt-get install -y chromium "
                   "(or set ARENA_TEST_CHROMIUM)")
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return CHROMIUM if Path(CHROMIUM).exists() else str(shutil.which("chromium"))


@pytest.fixture(scope="session")
async def browser(chromium_path: str) -> AsyncIterator[Any]:
    """Headless Chromium via Playwright's async API (the sync API would keep an event loop
    running in the main thread and break the async tests that follow)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=chromium_path, headless=True,
                                     args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context()
    p = await context.new_page()
    p.set_default_timeout(15_000)
    try:
        yield p
    finally:
        await context.close()


class AdminServer:
    """A real uvicorn serving the arena with the admin router (tests/admin/serve_app.py)."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log_path = env, port, log
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "tests.admin.serve_app:app_factory",
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
            cwd=REPO_ROOT, env={**os.environ, **self.env}, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"admin server exited:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"admin server did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture(scope="module")
def admin_server(
    admin_pg_url: str, admin_models_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AdminServer]:
    data = tmp_path_factory.mktemp("admin-server")
    server = AdminServer(
        env={
            "ARENA_DATABASE_URL": admin_pg_url,
            "ARENA_REDIS_URL": "",
            "ARENA_DATA_DIR": str(data),
            "ARENA_MODELS_FILE": str(admin_models_file),
            "ARENA_SECRET_KEY": "admin-browser-secret-0123456789",
            "ARENA_IP_HASH_SALT": "admin-browser-salt",
        },
        port=free_port(),
        log=data / "web.log",
    )
    server.data_dir = data  # type: ignore[attr-defined]
    try:
        server.start()
        yield server
    finally:
        server.stop()
