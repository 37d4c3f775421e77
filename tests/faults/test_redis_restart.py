"""A private Redis, killed and started again (it keeps nothing on disk, so everything in
it is lost): PostgreSQL says what must still run and the sweeper re-enqueues it; the web
tier's pooled connections to the dead server must not turn into 500s; while Redis is down
battle creation answers a clear 503 and the pages keep working."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.arena.stack import ArenaStack, services_stack
from tests.faults.helpers import (
    FAULT_ENV,
    PrivateRedis,
    Seen,
    StreamWatcher,
    check_nothing_lost,
    consented,
    created_id,
    probe,
    probe_battle,
    signal_worker,
    stack_logs,
    stop_stack,
    unclear_503,
    wait_generations_finished,
    wait_worker_live,
    write_registry,
)

MODELS = {"redis-alpha": "w-alpha", "redis-beta": "w-beta"}


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path_factory.mktemp("private-redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def stack(
    module_db: str, redis_server: PrivateRedis, tiny_models: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ArenaStack]:
    data = tmp_path_factory.mktemp("redis-restart")
    registry = write_registry(data / "models.yaml", {
        "redis-alpha": (tiny_models["tiny-alpha"], 16),
        "redis-beta": (tiny_models["tiny-beta"], 16),
    })
    s = services_stack(module_db, redis_server.url, "arena:", registry, data, **FAULT_ENV)
    try:
        s.start_web()
        for model, name in MODELS.items():
            s.start_worker(name, model)
        s.wait_models_online(list(MODELS))
        yield s
    finally:
        stop_stack(s)


def restart(redis_server: PrivateRedis) -> None:
    redis_server.kill()
    redis_server.start()  # same port, empty


def wait_workers_back(stack: ArenaStack, redis_server: PrivateRedis) -> None:
    """The workers heartbeat into the new, empty Redis (checked there, not via the web)."""
    for model, name in MODELS.items():
        wait_worker_live(stack, redis_server.url, model, name, timeout=30)


def test_restart_with_queued_jobs_loses_nothing_and_creation_works_at_once(
    stack: ArenaStack, module_db: str, redis_server: PrivateRedis
) -> None:
    seen = Seen()
    client = consented(stack.url)
    for name in MODELS.values():
        signal_worker(stack, name, signal.SIGSTOP)  # jobs wait in Redis, nobody takes them
    watchers: list[StreamWatcher] = []
    try:
        queued = []
        for i in range(2):
            queued.append(created_id(probe_battle(client, prompt=f"Queued question {i}?"),
                                     stack))
        watchers = [StreamWatcher(client, b) for b in queued]
        restart(redis_server)  # the jobs, streams and heartbeats are gone
    finally:
        for name in MODELS.values():
            signal_worker(stack, name, signal.SIGCONT)
    try:
        wait_workers_back(stack, redis_server)
        # Right away, on the web tier's connections from before the restart.
        created = [probe_battle(client, prompt=f"After the restart {i}?") for i in range(3)]
        bad = [str(p) for p in created if p.status != 201]
        assert not bad, (f"battle creation right after the Redis restart failed: {bad}\n"
                         f"{stack_logs(stack)}")
        fresh = [created_id(p) for p in created]
        watchers += [StreamWatcher(client, b) for b in fresh]
        battles = queued + fresh
        wait_generations_finished(module_db, battles, timeout=40, stack=stack)
        for w in watchers:
            w.wait_end(timeout=30, stack=stack)
    finally:
        for w in watchers:
            w.close()
    for w in watchers:
        seen.add_stream(w)
    for b in battles:
        seen.vote(client, b, "tie")
    check_nothing_lost(module_db, seen, battles)


def test_while_redis_is_down_creation_says_503_and_pages_keep_working(
    stack: ArenaStack, module_db: str, redis_server: PrivateRedis
) -> None:
    client = consented(stack.url)
    before = StreamWatcher(client, created_id(probe_battle(client), stack))
    try:
        before.wait_end(timeout=60, stack=stack)
    finally:
        before.close()
    redis_server.kill()
    try:
        created = probe_battle(client)
        models = probe(client, "GET", "/api/models")
        pages = [probe(client, "GET", path) for path in
                 ("/", "/leaderboard", f"/battle/{before.battle_id}", "/api/leaderboard")]
        view = probe(client, "GET", f"/api/battles/{before.battle_id}")
    finally:
        redis_server.start()
    problems = [unclear_503(created, MODELS)]
    if models.error is not None or models.status not in (200, 503):
        problems.append(f"{models}: expected the models (offline) or a clear 503")
    problems += [f"{p}: a page that needs no Redis failed while it was down"
                 for p in [*pages, view] if p.status != 200]
    problems = [p for p in problems if p]
    assert not problems, "while Redis was down:\n" + "\n".join(problems)

    wait_workers_back(stack, redis_server)
    seen = Seen()
    watcher = StreamWatcher(client, created_id(probe_battle(client), stack))
    try:
        watcher.wait_end(timeout=60, stack=stack)
    finally:
        watcher.close()
    seen.add_stream(watcher)
    seen.vote(client, watcher.battle_id)
    check_nothing_lost(module_db, seen, [before.battle_id, watcher.battle_id])
