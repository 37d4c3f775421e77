"""The real stack for the relay tests: uvicorn (`arena serve`), PostgreSQL, Redis, and
worker processes whose engine is the benchmarks' token source (a fixed number of tokens
at a fixed rate, each stamped with its time), so what is tested is the relay."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import yaml

from app.config import REPO_ROOT
from tests.arena.stack import ArenaStack, services_stack
from tests.conftest import free_port

TOKEN_SOURCE = Path(REPO_ROOT) / "benchmarks" / "token_source.py"
# name -> (tokens/s, tokens per answer, padding bytes per token)
SOURCES = {"src-a": (40.0, 30, 0), "src-b": (40.0, 30, 0), "src-bulk": (4000.0, 4000, 2000)}


def registry(path: Path) -> Path:
    """Registry rows for the token-source models: the worker never uses their backend
    (benchmarks/token_source.py runs its own engine); the endpoint is a closed port."""
    path.write_text(yaml.safe_dump({"models": [
        {"name": name, "backend": "openai", "max_new_tokens": tokens, "concurrency": 512,
         "options": {"base_url": f"http://127.0.0.1:{free_port()}/v1"}}
        for name, (_, tokens, _) in SOURCES.items()]}))
    return path


WORKER_METRICS_PORT = free_port()  # src-a's worker serves /metrics here


def start_token_worker(stack: ArenaStack, name: str, model: str) -> None:
    rate, tokens, pad = SOURCES[model]
    extra = {"ARENA_WORKER_METRICS_PORT": str(WORKER_METRICS_PORT)} if model == "src-a" else {}
    log = open(stack.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
    stack.procs[name] = subprocess.Popen(
        [sys.executable, str(TOKEN_SOURCE), "--model", model, "--worker-id", name,
         "--rate", str(rate), "--tokens", str(tokens), "--pad", str(pad)],
        cwd=REPO_ROOT, env={**os.environ, **stack.env, **extra}, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture(scope="package")  # one stack for every module here (start-up is slow)
def relay_stack(
    pg_url: str, redis_url: str, redis_prefix: str, tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ArenaStack]:
    data = tmp_path_factory.mktemp("relay-data")
    stack = services_stack(
        pg_url, redis_url, redis_prefix + "relay:", registry(data / "models.yaml"), data,
        ARENA_MODERATION_ENABLED="false", ARENA_RATE_LIMITS_ENABLED="false",
        ARENA_MAX_GENERATIONS_IN_FLIGHT="100000", ARENA_HEARTBEAT_TTL_S="60",
        ARENA_LEASE_MS="60000", ARENA_SSE_PING_S="30", ARENA_RELAY_BUFFER_EVENTS="64",
    )
    try:
        stack.start_web()
        for model in SOURCES:
            start_token_worker(stack, f"w-{model}", model)
        stack.wait_models_online(list(SOURCES))
        yield stack
    finally:
        stack.stop()


def web_redis_connections(stack: ArenaStack, web: str = "web") -> int:
    """The Redis connections the web process holds (CLIENT LIST, by its client name)."""
    client = redis.Redis.from_url(stack.env["ARENA_REDIS_URL"])
    try:
        name = f"arena-web-{stack.procs[web].pid}"
        return sum(1 for c in client.client_list() if c.get("name") == name)
    finally:
        client.close()
