"""Fixtures of the fault suite: a database of each module's own, a Redis key prefix of its
own, and a tiny model whose answers last long enough to be interrupted."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN_URL, _pg_admin, missing_service


@pytest.fixture(scope="session")
def long_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LLaVA with a 4096-token context that never stops early (its EOS token is
    suppressed), so an answer is exactly max_new_tokens long: ~550 tokens/s on one core
    here, so 1500 tokens take about three seconds. Random weights and temperature 1: two
    attempts at the same question give different texts."""
    from app.tinyvlm.build import TinyLlavaSpec, build_tiny_llava

    path = build_tiny_llava(tmp_path_factory.mktemp("long-model") / "long", seed=5,
                            spec=TinyLlavaSpec(max_position_embeddings=4096))
    config_path = path / "generation_config.json"
    config = json.loads(config_path.read_text())
    config["suppress_tokens"] = [config["eos_token_id"]]
    config_path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module")
def module_db(pg_url: str) -> Iterator[str]:
    """A fresh database on the machine's PostgreSQL for one module, migrated, dropped after:
    its checks of "every generation" see this module's battles only."""
    from app.db.migrate import upgrade

    name = f"arena_fault_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except (TimeoutError, OSError, ConnectionError) as exc:
        missing_service("PostgreSQL at 127.0.0.1:5432", f"start it or set ARENA_TEST_PG ({exc})")
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    url = f"{base}/{name}"
    upgrade(url)
    yield url
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def module_prefix(redis_prefix: str, request: pytest.FixtureRequest) -> str:
    """Redis keys of one module (under the session prefix, so they are deleted after)."""
    return f"{redis_prefix}{request.module.__name__.rsplit('.', 1)[-1]}:"
