"""A private PostgreSQL database per bench test module: bench builds read every battle,
so they must not see (or clear) the battles of other tests in the shared one."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import PG_ADMIN_URL, _pg_admin, missing_service


@contextlib.contextmanager
def private_database() -> Iterator[str]:
    """A new database migrated to head (its URL), dropped afterwards."""
    name = f"arena_bench_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except (TimeoutError, OSError, ConnectionError) as exc:
        missing_service("PostgreSQL at 127.0.0.1:5432", f"start it or set ARENA_TEST_PG ({exc})")
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    url = f"{base}/{name}"
    from app.db.migrate import upgrade

    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def bench_pg_url() -> Iterator[str]:
    with private_database() as url:
        yield url


@pytest.fixture(scope="module")
def second_pg_url() -> Iterator[str]:
    with private_database() as url:
        yield url
