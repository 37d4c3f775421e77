"""The embedded default (one process: SQLite, in-process queue, workers inside the web
process) killed with SIGKILL right after four battles were created, then started again:
its queue lived in memory, so the sweeper must find the unfinished generations in the
database and run them; within about 30 s every battle can be voted on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.arena.stack import ArenaStack, embedded_stack
from tests.faults.helpers import (
    FAULT_ENV,
    Seen,
    StreamWatcher,
    check_nothing_lost,
    consented,
    generations,
    new_battle,
    stop_stack,
    wait_generations_finished,
    write_registry,
)

ALPHA, BETA = "emb-alpha", "emb-beta"


@pytest.fixture(scope="module")
def stack(long_model: Path, tiny_models: dict[str, Path],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArenaStack]:
    data = tmp_path_factory.mktemp("embedded-restart")
    # Side a answers take about a second each, and one model's answers run one after
    # another: when the process dies, most of them are still queued or running.
    registry = write_registry(data / "models.yaml", {
        ALPHA: (long_model, 600), BETA: (tiny_models["tiny-beta"], 8),
    })
    s = embedded_stack(registry, data, **FAULT_ENV)
    try:
        s.start_web("--embedded-workers")
        s.wait_models_online([ALPHA, BETA])
        yield s
    finally:
        stop_stack(s)


def test_embedded_killed_with_battles_in_flight_finishes_them_after_restart(
    stack: ArenaStack,
) -> None:
    db = stack.env["ARENA_DATABASE_URL"]
    clients = [consented(stack.url) for _ in range(4)]  # four visitors, one battle each
    battles = [new_battle(c, ALPHA, BETA, f"Question {i}?") for i, c in enumerate(clients)]
    stack.kill("web")  # SIGKILL, right after the fourth battle was created
    unfinished = [g for g in generations(db, battles) if g["status"] not in ("done", "failed")]
    assert unfinished, "every answer finished before the kill: the test proves nothing"

    stack.start_web("--embedded-workers")
    started = time.monotonic()
    wait_generations_finished(db, battles, timeout=30, stack=stack)
    recovered_in = time.monotonic() - started

    seen = Seen()
    for client, battle in zip(clients, battles, strict=True):
        watcher = StreamWatcher(client, battle)
        try:
            watcher.wait_end(timeout=30, stack=stack)
        finally:
            watcher.close()
        seen.add_stream(watcher)
        assert watcher.snapshot()[-1].data == {"can_vote": True, "failed": False}, (
            watcher.describe())
        seen.vote(client, battle)
    check_nothing_lost(db, seen, battles)
    assert recovered_in < 30, recovered_in
