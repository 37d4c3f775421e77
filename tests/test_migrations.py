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


def test_0020_repairs_moderation_arrays_on_postgres() -> None:
    """Rows that the broken merge stored as [object, "<json>", ...] become the merged
    object (a later screening's key wins); objects are left as they are."""
    import uuid

    import asyncpg

    from tests.conftest import PG_ADMIN_URL, _pg_admin

    name = f"arena_mig_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    try:
        upgrade(url.replace("postgresql://", "postgresql+asyncpg://"), "0019")
        broken = ['{"prompt": {"decision": "allow"}}',
                  '{"answer_0_a": {"decision": "allow"}}',
                  '{"answer_0_a": {"decision": "review"}, "answer_0_b": {"decision": "allow"}}']
        ids = [uuid.uuid4(), uuid.uuid4()]

        async def write() -> None:
            conn = await asyncpg.connect(url)
            try:
                visitor = uuid.uuid4()
                await conn.execute("insert into visitors (id, ip_hash, created_at, banned)"
                                   " values ($1, 'h', now(), false)", visitor)
                await conn.execute(
                    "insert into models (name, backend, options, sampling, weight, enabled, "
                    "max_new_tokens, concurrency, outage, identity_words, ranked, "
                    "registry_state, updated_at) values ('m', 'openai', '{}', '{}', 1, true, "
                    "8, 1, false, '[]', true, '{}', now())")
                insert = ("insert into battles (id, visitor_id, mode, model_a, created_at, "
                          "ip_hash, moderation, review_status, removed, categories) values "
                          "($1, $2, 'anonymous', 'm', now(), 'h', {}, 'none', false, '[]')")
                await conn.execute(insert.format(
                    "json_build_array($3::json, to_json($4::text), to_json($5::text))"),
                    ids[0], visitor, *broken)
                await conn.execute(insert.format("$3::json"), ids[1], visitor, broken[0])
            finally:
                await conn.close()

        async def read() -> list[object]:
            conn = await asyncpg.connect(url)
            try:
                return [await conn.fetchval("select moderation::text from battles where id=$1",
                                            bid) for bid in ids]
            finally:
                await conn.close()

        asyncio.run(write())
        upgrade(url.replace("postgresql://", "postgresql+asyncpg://"))
        import json

        repaired, untouched = (json.loads(v) for v in asyncio.run(read()))  # type: ignore[arg-type]
        assert repaired == {"prompt": {"decision": "allow"},
                            "answer_0_a": {"decision": "review"},
                            "answer_0_b": {"decision": "allow"}}
        assert untouched == {"prompt": {"decision": "allow"}}
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
