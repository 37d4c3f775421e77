"""Fixtures: a PostgreSQL database of the leaderboard tests' own (on the server behind
`pg_url`), so simulated votes never reach other tests, and a model registry file."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.db.session import make_engine, make_sessionmaker
from tests.conftest import _pg_admin
from tests.leaderboard.simulate import IDENTITY, STRENGTHS, UNRANKED


def _new_database(pg_url: str, prefix: str) -> tuple[str, str]:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    from app.db.migrate import upgrade

    url = f"{pg_url.rsplit('/', 1)[0]}/{name}"
    upgrade(url)
    return name, url


@pytest.fixture(scope="module")
def lb_pg_url(pg_url: str) -> Iterator[str]:
    """A fresh, migrated database per test module, dropped afterwards."""
    name, url = _new_database(pg_url, "arena_lb")
    yield url
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def lb_sm(lb_pg_url: str) -> AsyncIterator[async_sessionmaker]:
    engine = make_engine(lb_pg_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture(scope="session")
def lb_models_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The simulated models as models.yaml (what `create_app` syncs into the DB)."""
    path = tmp_path_factory.mktemp("lb-registry") / "models.yaml"
    path.write_text(yaml.safe_dump({"models": [
        {"name": name, "backend": "openai", "path": "http://127.0.0.1:9/v1",
         "identity_words": IDENTITY.get(name, []),
         "ranked": name not in UNRANKED}
        for name in [*sorted(STRENGTHS), *UNRANKED]
    ]}))
    return path
