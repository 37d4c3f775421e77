"""Fixtures: a PostgreSQL database of the leaderboard tests' own (on the server behind
`pg_url`), so simulated votes never reach other tests, and a model registry file."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.config import Settings
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


@contextlib.asynccontextmanager
async def running_app(db_url: str, models_file: Path, data_dir: Path, name: str, *,
                      live_models: bool = False, **settings: Any) -> AsyncIterator[Any]:
    """The web app on the module's database with the simulated registry, started (no Redis,
    no moderation, no debounced recompute: the tests run the leaderboard themselves). With
    `live_models`, every simulated model has a stand-in worker heartbeat (the test writes the
    answers itself), so battles can be created."""
    from app.queue.base import WorkerInfo
    from app.web.main import create_app

    app = create_app(Settings(
        database_url=db_url, redis_url=None, data_dir=data_dir, models_file=models_file,
        moderation_enabled=False, leaderboard_debounce_s=0,
        secret_key=f"{name}-tests-secret-0123456789", ip_hash_salt=f"{name}-salt", **settings))
    async with app.router.lifespan_context(app):
        if live_models:
            for model in STRENGTHS:
                await app.state.arena.queue.heartbeat(WorkerInfo(f"w-{model}", model), 3600)
        yield app


@contextlib.asynccontextmanager
async def asgi_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on the app in-process (no streams: those need a real uvicorn)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture(scope="module")
async def lb_app(lb_pg_url: str, lb_models_file: Path, tmp_path_factory: pytest.TempPathFactory,
                 request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """The web app on the module's database (``running_app`` with default settings)."""
    name = request.module.__name__.rsplit(".", 1)[-1]
    async with running_app(lb_pg_url, lb_models_file, tmp_path_factory.mktemp(name),
                           name) as app:
        yield app


async def add_votes(sm: async_sessionmaker, n: int, *, seed: int,
                    visitors: int = 10) -> list[uuid.UUID]:
    """``n`` clean simulated voted battles by ``visitors`` new visitors; their ids."""
    from tests.leaderboard.simulate import add_visitors, insert_battles, random_battles

    async with sm() as session:
        ids = await add_visitors(session, visitors)
        await insert_battles(session, random_battles(n, seed=seed, visitors=ids))
    return ids
