"""Shared fixtures: the real PostgreSQL and Redis on this machine, tiny local models, and a
real uvicorn + worker processes.

In CI (CI=true) a missing service fails the run; elsewhere the tests that need it skip
with a message that says how to start it.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

PG_ADMIN_URL = os.environ.get("ARENA_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("ARENA_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(message: str) -> NoReturn:
    """Something a test needs is not on this machine: fail under CI, skip elsewhere.

    Works in a test, a fixture, or at module level (then the whole module skips, or its
    collection fails under CI)."""
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)


def missing_service(what: str, how: str) -> NoReturn:
    unavailable(f"{what} is not reachable; {how}")


CPU_MODELS_HOW = "install the cpu-models extra (scripts/setup.sh: pip install -e '.[cpu-models]')"


def require_module(name: str, how: str) -> ModuleType:
    """`import name`, or (see `unavailable`) say how to install it. Replaces
    `pytest.importorskip`, which skips even under CI."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        unavailable(f"Python module {name!r} is not installed ({exc}); {how}")


def require_file(path: Path, what: str, how: str) -> Path:
    """`path` exists, or (see `unavailable`) say how to make it."""
    if not path.exists():
        unavailable(f"{what} is missing ({path}); {how}")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, migrated to head, dropped afterwards."""
    name = f"arena_test_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except (TimeoutError, OSError, ConnectionError) as exc:
        missing_service(
            "PostgreSQL at 127.0.0.1:5432",
            f"start it (pg_ctlcluster ... main start) or set ARENA_TEST_PG ({exc})",
        )
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    url = f"{base}/{name}"
    from app.db.migrate import upgrade

    upgrade(url)
    yield url
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=3).ping()
    except redis.RedisError as exc:
        missing_service(
            "Redis at 127.0.0.1:6379", f"start redis-server or set ARENA_TEST_REDIS ({exc})"
        )
    return REDIS_URL


@pytest.fixture(scope="session")
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix for this run; every key under it is deleted afterwards."""
    import redis

    prefix = f"arenatest:{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two real tiny LLaVA models (random weights, different seeds), made locally."""
    from app.tinyvlm.build import build_tiny_llava

    root = tmp_path_factory.mktemp("models")
    return {
        "tiny-alpha": build_tiny_llava(root / "alpha", seed=1),
        "tiny-beta": build_tiny_llava(root / "beta", seed=2),
    }


@pytest.fixture(scope="session")
def models_file(tmp_path_factory: pytest.TempPathFactory, tiny_models: dict[str, Path]) -> Path:
    import yaml

    path = tmp_path_factory.mktemp("registry") / "models.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "models": [
                    {
                        "name": name,
                        "backend": "transformers",
                        "path": str(model_dir),
                        "max_new_tokens": 48,
                        "concurrency": 8,
                        "sampling": {"temperature": 1.0, "top_p": 1.0},
                        "options": {"num_threads": 1},
                    }
                    for name, model_dir in tiny_models.items()
                ]
            }
        )
    )
    return path
