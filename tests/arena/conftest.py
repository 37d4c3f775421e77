"""Fixtures of the arena tests: a migrated database of each dialect the arena supports."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.queue import WorkerInfo
from app.queue.memory_queue import MemoryQueue


@pytest.fixture(params=["postgresql", "sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The rules must hold on both dialects: PostgreSQL (the machine's) and a fresh SQLite."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    from app.db.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'arena.db'}"
    upgrade(url)
    return url


@contextlib.asynccontextmanager
async def seeded_sessionmaker(
    db_url: str, models: Iterable[str], max_new_tokens: int
) -> AsyncIterator[async_sessionmaker]:
    """A sessionmaker on `db_url` whose registry has `models` (openai backend)."""
    from app.db.models import ModelEntry
    from app.db.session import make_engine, make_sessionmaker

    engine = make_engine(db_url)
    maker = make_sessionmaker(engine)
    async with maker() as session:
        for name in models:
            if await session.get(ModelEntry, name) is None:
                session.add(ModelEntry(name=name, backend="openai",
                                       max_new_tokens=max_new_tokens))
        await session.commit()
    try:
        yield maker
    finally:
        await engine.dispose()


async def live_queue(*names: str) -> MemoryQueue:
    """An in-process queue on which each of `names` has a live worker."""
    queue = MemoryQueue()
    for name in names:
        await queue.heartbeat(WorkerInfo(worker_id=f"w-{name}", model=name), 600)
    return queue
