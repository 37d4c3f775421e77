"""A private PostgreSQL stopped for a few seconds in the middle of an answer, then started
again: during the outage every request gets a clear 503 that names no model (never a 500
or a reset connection); the worker, which finished the answer meanwhile, retries its save;
afterwards everything works again by itself and the answer is stored once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.arena.stack import ArenaStack, services_stack
from tests.faults.helpers import (
    FAULT_ENV,
    PrivatePostgres,
    Seen,
    StreamWatcher,
    attempts,
    check_nothing_lost,
    consented,
    generation,
    new_battle,
    probe,
    probe_battle,
    stack_logs,
    stop_stack,
    unclear_503,
    wait_generations_finished,
    wait_until,
    write_registry,
)

LONG, SHORT = "pg-alpha", "pg-beta"


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="module")
def db(private_pg: PrivatePostgres) -> str:
    from app.db.migrate import upgrade

    url = private_pg.create_database(f"arena_{uuid.uuid4().hex[:8]}")
    upgrade(url)
    return url


@pytest.fixture(scope="module")
def stack(
    db: str, redis_url: str, module_prefix: str, long_model: Path,
    tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ArenaStack]:
    data = tmp_path_factory.mktemp("postgres-outage")
    registry = write_registry(data / "models.yaml", {
        LONG: (long_model, 1000), SHORT: (tiny_models["tiny-beta"], 8),
    })
    # A short lease, so that a worker that gave the job up shows here within seconds.
    s = services_stack(db, redis_url, module_prefix, registry, data, **FAULT_ENV,
                       ARENA_LEASE_MS="3000")
    try:
        s.start_web()
        s.start_worker("w-alpha", LONG)
        s.start_worker("w-beta", SHORT)
        s.wait_models_online([LONG, SHORT])
        yield s
    finally:
        stop_stack(s)


def test_postgres_outage_mid_answer(
    stack: ArenaStack, db: str, private_pg: PrivatePostgres
) -> None:
    seen = Seen()
    client = consented(stack.url)
    battle = new_battle(client, LONG, SHORT)
    watcher = StreamWatcher(client, battle)
    try:
        watcher.wait(lambda w: w.has("a", "delta"), timeout=60, stack=stack,
                     what="the first token of side a")
        private_pg.stop("fast")
        try:
            during = [
                probe(client, "GET", f"/api/battles/{battle}"),
                probe_battle(client),
                probe(client, "POST", f"/api/battles/{battle}/vote", json={"winner": "tie"}),
                probe(client, "POST", f"/api/battles/{battle}/turns", json={"prompt": "More?"}),
                probe(client, "GET", "/api/models"),
            ]
            pages = [probe(client, "GET", path) for path in ("/", f"/battle/{battle}",
                                                             "/leaderboard")]
            # The answer goes on streaming (Redis is up); keep the database down until the
            # worker has finished it and is trying to save it.
            watcher.wait(lambda w: w.quiet_for("a") > 2.5, timeout=60, stack=stack,
                         what="side a to stop streaming (the answer finished)")
        finally:
            private_pg.start()
        first_after = probe(client, "GET", f"/api/battles/{battle}")
        watcher.wait_end(timeout=60, stack=stack)
    finally:
        watcher.close()

    problems = [unclear_503(p, [LONG, SHORT]) for p in during]
    problems += [unclear_503(p, [LONG, SHORT]) for p in pages if p.status != 200]
    problems += [f"stream reconnect answered {c['status']}: {c.get('body')!r}"
                 for c in watcher.connections
                 if c["status"] not in (None, 200, 503) or (
                     c["status"] == 503 and any(n in c.get("body", "") for n in (LONG, SHORT)))]
    problems = [p for p in problems if p]
    if first_after.status != 200:
        problems.append(f"the first request after the restart: {first_after}")

    seen.add_stream(watcher)
    wait_generations_finished(db, [battle], timeout=30, stack=stack)
    gen = generation(db, battle, "a")
    if gen["attempts"] != 1:
        problems.append(f"the answer was generated {gen['attempts']} times: the worker's "
                        f"save was not retried after the outage")
    assert not problems, ("PostgreSQL outage:\n" + "\n".join(problems)
                          + f"\n{stack_logs(stack)}")
    seen.vote(client, battle)
    check_nothing_lost(db, seen, [battle])
    log = [(a["worker_id"], a["outcome"]) for a in attempts(db, gen["id"])]
    assert log == [("w-alpha", "done")], log

    again = new_battle(client, LONG, SHORT)  # and the arena simply works again
    more = StreamWatcher(client, again)
    try:
        more.wait_end(timeout=60, stack=stack)
    finally:
        more.close()
    seen.add_stream(more)
    check_nothing_lost(db, seen, [battle, again])


def test_every_process_lived_through_the_outage(stack: ArenaStack) -> None:
    """No process of the stack died of the outage; the API answers normally."""
    dead = {n: p.returncode for n, p in stack.procs.items() if p.poll() is not None}
    assert not dead, f"processes died: {dead}\n{stack_logs(stack)}"
    wait_until(lambda: probe(consented(stack.url), "GET", "/api/models").status == 200,
               timeout=10, what="the models API", stack=stack)
