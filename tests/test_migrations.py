"""The schema lives only in Alembic migrations: they must produce exactly the models."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.all_models import Base
from app.db.migrate import upgrade


def _diff(url: str) -> list:
    async def run() -> list:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
                )
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_migrations_match_models_on_postgres(pg_url: str) -> None:
    assert _diff(pg_url) == []


def test_migrations_match_models_on_sqlite(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    assert _diff(url) == []
