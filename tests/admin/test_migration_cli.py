"""Migration 0004 matches the admin tables on SQLite and PostgreSQL and reverses; the
`arena admin` commands manage accounts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from app.config import REPO_ROOT
from app.db.all_models import Base
from app.db.migrate import alembic_config, upgrade

ADMIN_TABLES = {"admin_users", "admin_sessions", "audit_log"}


async def schema_diff(url: str) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata))
    finally:
        await engine.dispose()


async def tables(url: str) -> set[str]:
    from sqlalchemy import inspect

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_sqlite_upgrade_matches_models_and_downgrades(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
    upgrade(url)
    assert await tables(url) >= ADMIN_TABLES
    assert await schema_diff(url) == []
    await asyncio.to_thread(command.downgrade, alembic_config(url), "0003")
    assert not ADMIN_TABLES & await tables(url)
    upgrade(url)
    assert await tables(url) >= ADMIN_TABLES


async def test_postgres_schema_matches_models(admin_pg_url: str) -> None:
    assert await schema_diff(admin_pg_url) == []


def arena(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "arena_cli", "admin", *args], cwd=REPO_ROOT, input=stdin,
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )


def test_cli_create_list_revoke(tmp_path: Path) -> None:
    env = {"ARENA_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
           "ARENA_DATA_DIR": str(tmp_path)}
    r = arena(["create-user", "Boss@Example.org", "--role", "admin", "--password-stdin"], env,
              "a long enough password\n")
    assert r.returncode == 0, r.stderr
    assert "created admin boss@example.org" in r.stdout
    r = arena(["create-user", "weak", "--password-stdin"], env, "short\n")
    assert r.returncode != 0 and "12 characters" in r.stderr
    r = arena(["list-users"], env)
    assert r.stdout.split("\t")[:3] == ["boss@example.org", "admin", "active"]
    r = arena(["revoke-sessions", "boss@example.org", "--disable"], env)
    assert r.returncode == 0 and "revoked 0 session(s) and disabled" in r.stdout
