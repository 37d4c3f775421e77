"""Fixtures of the arena tests: a migrated database of each dialect the arena supports."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["postgresql", "sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The rules must hold on both dialects: PostgreSQL (the machine's) and a fresh SQLite."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    from app.db.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'arena.db'}"
    upgrade(url)
    return url
