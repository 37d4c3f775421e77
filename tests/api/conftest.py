"""One real arena for the API tests: uvicorn (`arena serve --embedded-workers`) on SQLite,
with the in-process queue and the two tiny local models, and one consented visitor."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.arena.stack import ArenaStack, embedded_stack, png_bytes, services_stack

# embedded (default: SQLite, in-process queue and workers) or services (PostgreSQL, Redis,
# worker processes: slower, and it needs both services; for a deeper run by hand).
STACK = os.environ.get("ARENA_TEST_API_STACK", "embedded")


@pytest.fixture(scope="package")
def arena(
    request: pytest.FixtureRequest, models_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ArenaStack]:
    data = tmp_path_factory.mktemp("api")
    names = registry_names(models_file)
    if STACK == "services":
        stack = services_stack(
            request.getfixturevalue("pg_url"), request.getfixturevalue("redis_url"),
            request.getfixturevalue("redis_prefix"), models_file, data,
            ARENA_BATTLES_PER_VISITOR="500/hour",
        )
    else:
        stack = embedded_stack(models_file, data, ARENA_BATTLES_PER_VISITOR="500/hour")
    try:
        if STACK == "services":
            stack.start_web()
            for name in names:
                stack.start_worker(f"w-{name}", name)
        else:
            stack.start_web("--embedded-workers")
        stack.wait_models_online(names)
        yield stack
    finally:
        stack.stop()


def registry_names(models_file: Path) -> list[str]:
    return [m["name"] for m in yaml.safe_load(models_file.read_text())["models"]]


def consented(url: str) -> requests.Session:
    """A visitor who accepted the terms: the session carries its signed cookie."""
    session = requests.Session()
    r = session.post(f"{url}/api/consent", json={"accept": True}, timeout=30)
    assert r.status_code == 200, r.text
    assert "arena_session" in session.cookies
    return session


def start_battle(session: requests.Session, url: str, **form: str) -> dict[str, Any]:
    r = session.post(
        f"{url}/api/battles",
        files={"image": ("pic.png", png_bytes(), "image/png")},
        data={"prompt": "What is in the image?", **form},
        timeout=60,
    )
    assert r.status_code == 201, r.text
    return r.json()


def wait_finished(session: requests.Session, url: str, battle_id: str,
                  timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = session.get(f"{url}/api/battles/{battle_id}", timeout=30)
        assert r.status_code == 200, r.text
        view = r.json()
        if view["finished"] or view["failed"]:
            return view
        time.sleep(0.3)
    raise TimeoutError(f"battle {battle_id} did not finish")
