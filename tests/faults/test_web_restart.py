"""The web process killed (SIGKILL) in the middle of a stream and started again: the
browser reconnects with Last-Event-ID and ends with the complete answer, nothing lost or
repeated, because the worker (not the web process) owns the answer."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.arena.stack import ArenaStack, services_stack
from tests.faults.helpers import (
    FAULT_ENV,
    Seen,
    StreamWatcher,
    check_nothing_lost,
    consented,
    generation,
    new_battle,
    signal_worker,
    stop_stack,
    write_registry,
)

LONG, SHORT = "web-alpha", "web-beta"


@pytest.fixture(scope="module")
def stack(
    module_db: str, redis_url: str, module_prefix: str, long_model: Path,
    tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ArenaStack]:
    data = tmp_path_factory.mktemp("web-restart")
    registry = write_registry(data / "models.yaml", {
        LONG: (long_model, 1000), SHORT: (tiny_models["tiny-beta"], 8),
    })
    # A long lease: the worker is frozen while the web restarts (see below), and that must
    # not look like a dead worker.
    s = services_stack(module_db, redis_url, module_prefix, registry, data, **FAULT_ENV,
                       ARENA_LEASE_MS="60000")
    try:
        s.start_web()
        s.start_worker("w-alpha", LONG)
        s.start_worker("w-beta", SHORT)
        s.wait_models_online([LONG, SHORT])
        yield s
    finally:
        stop_stack(s)


def test_web_killed_mid_stream_client_resumes_with_last_event_id(
    stack: ArenaStack, module_db: str
) -> None:
    seen = Seen()
    client = consented(stack.url)
    battle = new_battle(client, LONG, SHORT)
    watcher = StreamWatcher(client, battle)
    try:
        watcher.wait(lambda w: sum(d["type"] == "delta" for d in w.side_events("a")) >= 3,
                     timeout=60, stack=stack, what="side a to be streaming")
        # Freeze the worker so that the answer is still being written when the browser
        # comes back: the resumed stream then has to continue it from the cursor.
        signal_worker(stack, "w-alpha", signal.SIGSTOP)
        try:
            stack.kill("web")
            stack.start_web()
            watcher.wait(lambda w: any(c["status"] == 200 and c["last_event_id"]
                                       for c in w.connections[1:]),
                         timeout=30, stack=stack, what="the client to reconnect")
        finally:
            signal_worker(stack, "w-alpha", signal.SIGCONT)
        watcher.wait_end(timeout=90, stack=stack)
    finally:
        watcher.close()

    first, *later = watcher.connections
    assert first["events"] > 0 and later, watcher.describe()
    assert all(c["last_event_id"] for c in later), (
        f"a reconnect did not send Last-Event-ID: {watcher.connections}")
    assert not watcher.has("a", "reset"), f"the answer was restarted: {watcher.describe()}"
    shown = seen.add_stream(watcher)  # the deltas of both connections are the whole answer
    assert sum(d["type"] == "delta" for d in watcher.side_events("a")) > first["events"], (
        f"no deltas came after the reconnect: {watcher.describe()}")
    assert generation(module_db, battle, "a")["attempts"] == 1

    reload = StreamWatcher(client, battle)  # a fresh page load gets the same answers
    try:
        reload.wait_end(timeout=30, stack=stack)
    finally:
        reload.close()
    assert reload.answers() == shown, reload.describe()
    seen.vote(client, battle)
    check_nothing_lost(module_db, seen, [battle])
