"""`arena demo` as a newcomer meets it: a quiet start that prints the URL once the server
answers, a demo admin whose printed password logs in, and a leaderboard that follows the
votes by itself. And the other side: a production deployment makes no demo admin."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.admin.accounts import AccountError, reset_demo_admin
from tests.arena.stack import ArenaStack, consented_client, create_battle, embedded_stack, read_sse

BANNER = re.compile(r"vlm-arena is running at (http://\S+)")
PASSWORD = re.compile(r"user (demo-admin)\s+password (\S+)")
LOGIN_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _wait_for(predicate, timeout: float, what: str, log: ArenaStack | None = None) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout} s" + (f"\n{log.log('web')}" if log else ""))


@pytest.fixture(scope="module")
def demo(models_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArenaStack]:
    data = tmp_path_factory.mktemp("demo")
    s = embedded_stack(models_file, data)
    try:
        s._spawn("web", ["demo", "--port", str(s.port)])
        _wait_for(
            lambda: BANNER.search(s.log("web")) is not None or s.procs["web"].poll() is not None,
            120,
            "the demo printed its URL",
            s,
        )
        assert s.procs["web"].poll() is None, s.log("web")
        yield s
    finally:
        s.stop()


def _login(base_url: str, username: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        form = client.get("/admin/login")
        token = LOGIN_CSRF.search(form.text)
        assert token, form.text
        r = client.post(
            "/admin/login",
            data={
                "username": username,
                "password": password,
                "csrf_token": token.group(1),
                "next": "/admin/",
            },
        )
        if r.status_code != 303:
            return r
        return client.get(r.headers["location"])


def test_start_is_quiet_and_says_the_url_once_it_answers(demo: ArenaStack) -> None:
    log = demo.log("web")
    match = BANNER.search(log)
    assert match and match.group(1) == demo.url + "/"
    assert len(BANNER.findall(log)) == 1
    # The announcement comes from a real answer of /healthz; it answers still.
    assert httpx.get(f"{demo.url}/healthz", timeout=5).status_code == 200
    assert "Recognizer not added" not in log and "presidio" not in log, log
    assert "WARNING" not in log and "Loading weights" not in log, log
    # Nothing but the announcement: the URL, then the admin login.
    lines = [line for line in log.splitlines() if line.strip()]
    assert len(lines) == 2 and BANNER.match(lines[0]) and PASSWORD.search(lines[1]), log


def test_the_printed_admin_password_logs_in(demo: ArenaStack) -> None:
    match = PASSWORD.search(demo.log("web"))
    assert match, demo.log("web")
    user, password = match.groups()
    page = _login(demo.url, user, password)
    assert page.status_code == 200 and "Log out" in page.text, page.text[:2000]
    assert _login(demo.url, user, password + "x").status_code == 401


def test_leaderboard_follows_a_vote_without_any_command(demo: ArenaStack) -> None:
    demo.wait_models_online(["tiny-alpha", "tiny-beta"])
    before = httpx.get(f"{demo.url}/api/leaderboard", timeout=10).json()
    assert before["rows"] == []
    client = consented_client(demo.url)
    battle = create_battle(client, "What colour is the square?")
    read_sse(client, f"/api/battles/{battle['id']}/stream")
    r = client.post(f"/api/battles/{battle['id']}/vote", json={"winner": "model_a"})
    assert r.status_code == 200, r.text
    voted = time.monotonic()

    def board_has_the_vote() -> bool:
        rows = httpx.get(f"{demo.url}/api/leaderboard", timeout=10).json()["rows"]
        return sum(row["votes"] for row in rows) == 2  # one battle: one vote per model

    _wait_for(board_has_the_vote, 15, "the leaderboard showed the vote", demo)
    assert time.monotonic() - voted < 15
    page = httpx.get(f"{demo.url}/leaderboard", timeout=10).text
    assert "No votes yet" not in page
    assert "tiny-alpha" in page and "tiny-beta" in page


def test_a_production_deployment_makes_no_demo_admin(models_file: Path, tmp_path: Path) -> None:
    s = embedded_stack(
        models_file,
        tmp_path,
        ARENA_ENV="production",
        ARENA_SECRET_KEY="a" * 40,
        ARENA_IP_HASH_SALT="b" * 40,
        ARENA_MODERATION_ENABLED="false",
    )
    try:
        s.start_web()
        _wait_for(lambda: BANNER.search(s.log("web")) is not None, 30, "serve printed its URL")
    finally:
        s.stop()
    assert "password" not in s.log("web")
    with sqlite3.connect(tmp_path / "arena.db") as db:
        assert db.execute("select count(*) from admin_users").fetchone() == (0,)


async def test_the_account_code_refuses_a_demo_admin_outside_the_demo() -> None:
    with pytest.raises(AccountError, match="only in the demo"):
        await reset_demo_admin(None, "production")  # type: ignore[arg-type]  # never reached
