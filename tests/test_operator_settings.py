"""What an operator behind a proxy relies on, against a real `arena serve` (uvicorn): the
client IP and scheme come from forwarding headers only when the peer is a trusted proxy,
the session cookie's Secure flag follows the scheme, and production refuses to start with
generated or placeholder secrets."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from app.arena.visitors import hash_ip
from app.config import REPO_ROOT
from app.web.proxy import TrustedProxies, forwarded_client
from tests.arena.stack import ArenaStack, embedded_stack

SALT = "operator-tests-salt-0123456789abcdef"
VISITOR_IP = "203.0.113.7"


def _registry(data: Path) -> Path:
    path = data / "models.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "models": [
                    {"name": "remote-vlm", "backend": "openai", "path": "http://127.0.0.1:9/v1"},
                ]
            }
        )
    )
    return path


def _stack(data: Path, **env: str) -> ArenaStack:
    return embedded_stack(
        _registry(data), data, ARENA_MODERATION_ENABLED="false", ARENA_IP_HASH_SALT=SALT, **env
    )


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArenaStack]:
    """The arena trusting 127.0.0.1 (where the test, playing the proxy, connects from)."""
    s = _stack(tmp_path_factory.mktemp("proxied"), ARENA_TRUSTED_PROXIES="127.0.0.1/32")
    try:
        s.start_web()
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArenaStack]:
    """The default: no proxy trusted."""
    s = _stack(tmp_path_factory.mktemp("direct"))
    try:
        s.start_web()
        yield s
    finally:
        s.stop()


def _consent(stack: ArenaStack, **headers: str) -> httpx.Response:
    r = httpx.post(f"{stack.url}/api/consent", json={"accept": True}, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    return r


def _ip_hashes(stack: ArenaStack) -> set[str]:
    with sqlite3.connect(Path(stack.env["ARENA_DATA_DIR"]) / "arena.db") as db:
        return {row[0] for row in db.execute("select ip_hash from visitors")}


def _cookie_flags(response: httpx.Response) -> list[str]:
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("arena_session="), cookie
    return [part.strip().lower() for part in cookie.split(";")]


def test_a_trusted_proxy_gives_the_client_ip_and_scheme(behind_proxy: ArenaStack) -> None:
    r = _consent(
        behind_proxy,
        **{"X-Forwarded-For": f"198.51.100.1, {VISITOR_IP}", "X-Forwarded-Proto": "https"},
    )
    # The rightmost untrusted hop is the visitor (the left one could be forged by them).
    assert _ip_hashes(behind_proxy) == {hash_ip(VISITOR_IP, SALT)}
    assert "secure" in _cookie_flags(r)
    plain = _consent(behind_proxy, **{"X-Forwarded-For": VISITOR_IP, "X-Forwarded-Proto": "http"})
    assert "secure" not in _cookie_flags(plain)


def test_by_default_no_forwarding_header_is_believed(direct: ArenaStack) -> None:
    r = _consent(direct, **{"X-Forwarded-For": VISITOR_IP, "X-Forwarded-Proto": "https"})
    assert _ip_hashes(direct) == {hash_ip("127.0.0.1", SALT)}
    # Plain HTTP: a Secure cookie would never come back, so none is set.
    assert "secure" not in _cookie_flags(r)


def test_the_admin_cookies_follow_the_scheme_too(
    behind_proxy: ArenaStack, direct: ArenaStack
) -> None:
    tls = httpx.get(f"{behind_proxy.url}/admin/login", headers={"X-Forwarded-Proto": "https"})
    assert "secure" in tls.headers["set-cookie"].lower()
    plain = httpx.get(f"{direct.url}/admin/login", headers={"X-Forwarded-Proto": "https"})
    assert "secure" not in plain.headers["set-cookie"].lower()


def test_cookie_secure_setting_forces_the_flag(tmp_path: Path) -> None:
    s = _stack(tmp_path, ARENA_COOKIE_SECURE="true")
    try:
        s.start_web()
        assert "secure" in _cookie_flags(_consent(s))
    finally:
        s.stop()


def test_forwarded_client_picks_the_rightmost_untrusted_hop() -> None:
    trusted = TrustedProxies("10.0.0.0/8, ::1")
    assert forwarded_client(["1.2.3.4, 5.6.7.8, 10.1.1.1"], trusted) == "5.6.7.8"
    assert forwarded_client(["1.2.3.4", "10.0.0.2"], trusted) == "1.2.3.4"
    assert forwarded_client([], trusted) is None
    assert "10.9.9.9" in trusted and "::1" in trusted and "11.0.0.1" not in trusted
    assert not TrustedProxies("") and "1.1.1.1" in TrustedProxies("*")


def _serve(data: Path, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """`arena serve` in production, expected to exit on its own (refusal)."""
    registry = _registry(data)
    return subprocess.run(
        [sys.executable, "-m", "arena_cli", "serve", "--port", "9"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(data),
            "ARENA_ENV": "production",
            "ARENA_DATA_DIR": str(data),
            "ARENA_MODELS_FILE": str(registry),
            "ARENA_DATABASE_URL": f"sqlite+aiosqlite:///{data / 'arena.db'}",
            "ARENA_MODERATION_ENABLED": "false",
            **env,
        },
    )


@pytest.mark.parametrize(
    "env, named",
    [
        ({}, ["ARENA_SECRET_KEY", "ARENA_IP_HASH_SALT"]),
        ({"ARENA_SECRET_KEY": "change-me", "ARENA_IP_HASH_SALT": "x" * 40}, ["ARENA_SECRET_KEY"]),
        ({"ARENA_SECRET_KEY": "k" * 40, "ARENA_IP_HASH_SALT": "short"}, ["ARENA_IP_HASH_SALT"]),
    ],
)
def test_production_refuses_generated_or_placeholder_secrets(
    tmp_path: Path, env: dict[str, str], named: list[str]
) -> None:
    done = _serve(tmp_path, env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "refusing to start" in done.stderr
    for variable in named:
        assert variable in done.stderr
    assert "ARENA_ALLOW_GENERATED_SECRETS" in done.stderr
    # Refused before anything was written: no generated secret, no database.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models.yaml"]


def test_production_starts_with_generated_secrets_when_told_to(tmp_path: Path) -> None:
    s = _stack(tmp_path, ARENA_ENV="production", ARENA_ALLOW_GENERATED_SECRETS="true")
    try:
        s.start_web()
        assert httpx.get(f"{s.url}/healthz").status_code == 200
    finally:
        s.stop()
    assert (tmp_path / ".secret_key").exists()
