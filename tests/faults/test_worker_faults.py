"""Worker faults on the deployment path (uvicorn, PostgreSQL, Redis Streams, worker
processes, the transformers engine): SIGKILL mid-answer, SIGSTOP past the lease and back,
SIGTERM with answers in flight.

One stack for the module: `long-alpha` answers take a few seconds (1000 tokens, EOS
suppressed) and two or more workers serve it; `short-beta` answers the other side at once.
The lease is 2 s so that a frozen worker loses its job quickly.
"""

from __future__ import annotations

import itertools
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.arena.stack import ArenaStack, services_stack
from tests.faults.helpers import (
    FAULT_ENV,
    Seen,
    StreamWatcher,
    attempts,
    check_nothing_lost,
    consented,
    generation,
    holder,
    new_battle,
    signal_worker,
    stack_logs,
    start_worker_with_env,
    stop_stack,
    wait_exit,
    wait_generations_finished,
    wait_until,
    wait_worker_live,
    worker_heartbeat,
    write_registry,
)

LONG, SHORT = "long-alpha", "short-beta"
LONG_TOKENS = 1000
_names = itertools.count(1)


@pytest.fixture(scope="module")
def stack(
    module_db: str, redis_url: str, module_prefix: str, long_model: Path,
    tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ArenaStack]:
    data = tmp_path_factory.mktemp("worker-faults")
    registry = write_registry(data / "models.yaml", {
        LONG: (long_model, LONG_TOKENS), SHORT: (tiny_models["tiny-beta"], 8),
    })
    s = services_stack(module_db, redis_url, module_prefix, registry, data,
                       **FAULT_ENV, ARENA_LEASE_MS="2000")
    try:
        s.start_web()
        s.start_worker("w-beta", SHORT)
        for _ in range(2):
            s.start_worker(f"w-alpha-{next(_names)}", LONG)
        for name in [n for n in s.procs if n.startswith("w-")]:
            wait_worker_live(s, redis_url, SHORT if "beta" in name else LONG, name)
        yield s
    finally:
        stop_stack(s)


def alpha_workers(stack: ArenaStack) -> list[str]:
    return [n for n, p in stack.procs.items() if n.startswith("w-alpha") and p.poll() is None]


def ensure_alpha_workers(stack: ArenaStack, redis_url: str, count: int = 2) -> None:
    """Start fresh `long-alpha` workers (new ids) until `count` serve it."""
    started = []
    while len(alpha_workers(stack)) < count:
        name = f"w-alpha-{next(_names)}"
        stack.start_worker(name, LONG)
        started.append(name)
    for name in started:
        wait_worker_live(stack, redis_url, LONG, name)


@pytest.fixture
def client(stack: ArenaStack, redis_url: str) -> Iterator[httpx.Client]:
    ensure_alpha_workers(stack, redis_url)
    c = consented(stack.url)
    yield c
    c.close()


def wait_holder(stack: ArenaStack, db: str, battle_id: str, among: list[str]) -> str:
    return wait_until(
        lambda: (h if (h := holder(db, battle_id)) in among else None),
        timeout=60, what=f"a worker of {among} to start side a of {battle_id[:8]}",
        stack=stack, state=lambda: generation(db, battle_id, "a"),
    )


def test_sigkill_mid_answer_another_worker_finishes_it(
    stack: ArenaStack, module_db: str, client: httpx.Client
) -> None:
    seen = Seen()
    battle = new_battle(client, LONG, SHORT)
    watcher = StreamWatcher(client, battle)
    try:
        watcher.wait(lambda w: w.has("a", "delta"), timeout=60, stack=stack,
                     what="the first token of side a")
        victim = wait_holder(stack, module_db, battle, alpha_workers(stack))
        stack.kill(victim)  # SIGKILL, mid-answer
        watcher.wait_end(timeout=90, stack=stack)
    finally:
        watcher.close()
    assert watcher.has("a", "delta", after="reset"), (
        f"side a was not regenerated visibly (reset, then new deltas): {watcher.describe()}")
    seen.add_stream(watcher)
    wait_generations_finished(module_db, [battle], timeout=30, stack=stack)
    seen.vote(client, battle)

    gen = generation(module_db, battle, "a")
    assert gen["status"] == "done" and gen["worker_id"] != victim, gen
    check_nothing_lost(module_db, seen, [battle])
    log = attempts(module_db, gen["id"])
    assert [a["worker_id"] for a in log][0] == victim and log[-1]["outcome"] == "done", log
    assert all(a["outcome"] != "done" for a in log if a["worker_id"] == victim), log


def _freeze_holder(stack: ArenaStack, db: str, client: httpx.Client
                   ) -> tuple[str, str, StreamWatcher]:
    """Start a battle and SIGSTOP the worker that writes its side a, mid-answer."""
    battle = new_battle(client, LONG, SHORT)
    watcher = StreamWatcher(client, battle)
    watcher.wait(lambda w: w.has("a", "delta"), timeout=60, stack=stack,
                 what="the first token of side a")
    frozen = wait_holder(stack, db, battle, alpha_workers(stack))
    signal_worker(stack, frozen, signal.SIGSTOP)
    return battle, frozen, watcher


def _wait_worker_idle(stack: ArenaStack, redis_url: str, name: str) -> None:
    """A resumed worker is done with the job it lost: its heartbeat is back and counts no
    job in flight."""
    prefix = stack.env["ARENA_REDIS_PREFIX"]

    def idle() -> bool:
        beat = worker_heartbeat(redis_url, prefix, LONG, name)
        return beat is not None and beat.get("in_flight") == 0

    wait_until(idle, timeout=60, stack=stack, what=f"resumed {name} to drop the job it lost",
               state=lambda: worker_heartbeat(redis_url, prefix, LONG, name))


def test_sigstop_past_the_lease_then_resume_keeps_the_answer_the_page_showed(
    stack: ArenaStack, module_db: str, redis_url: str, client: httpx.Client
) -> None:
    seen = Seen()
    battle, frozen, watcher = _freeze_holder(stack, module_db, client)
    try:
        # Past the 2 s lease another worker reclaims the job and writes the whole answer.
        watcher.wait_end(timeout=90, stack=stack)
    finally:
        signal_worker(stack, frozen, signal.SIGCONT)
        watcher.close()
    shown = seen.add_stream(watcher)
    # The frozen worker wakes up mid-answer, with a job it no longer owns.
    _wait_worker_idle(stack, redis_url, frozen)
    wait_generations_finished(module_db, [battle], timeout=30, stack=stack)

    gen = generation(module_db, battle, "a")
    assert gen["text"] == shown["a"], (
        f"the resumed worker ({frozen}) replaced the answer the page showed: attempts "
        f"{gen['attempts']}, worker {gen['worker_id']}, shown {len(shown['a'])} chars "
        f"{shown['a'][:80]!r}, stored {len(gen['text'])} chars {gen['text'][:80]!r}"
    )
    again = StreamWatcher(client, battle)  # a reload shows the same answer
    try:
        again.wait_end(timeout=30, stack=stack)
    finally:
        again.close()
    assert again.answers() == shown, again.describe()
    seen.vote(client, battle)
    check_nothing_lost(module_db, seen, [battle])
    log = attempts(module_db, gen["id"])
    assert all(a["outcome"] != "done" for a in log if a["worker_id"] == frozen), log


def test_resumed_stale_worker_cannot_write_into_the_answer_being_regenerated(
    stack: ArenaStack, module_db: str, redis_url: str, client: httpx.Client
) -> None:
    """SIGCONT while the reclaiming worker is still writing: the stale worker's deltas,
    save, failure or requeue must not reach the page or the database."""
    seen = Seen()
    battle, frozen, watcher = _freeze_holder(stack, module_db, client)
    try:
        watcher.wait(lambda w: w.has("a", "delta", after="reset"), timeout=60, stack=stack,
                     what="another worker to reclaim side a and stream its own answer")
    finally:
        signal_worker(stack, frozen, signal.SIGCONT)
    try:
        watcher.wait_end(timeout=90, stack=stack)
    finally:
        watcher.close()
    seen.add_stream(watcher)  # the deltas after the reset are exactly the final answer
    _wait_worker_idle(stack, redis_url, frozen)
    wait_generations_finished(module_db, [battle], timeout=30, stack=stack)
    seen.vote(client, battle)
    check_nothing_lost(module_db, seen, [battle])
    log = attempts(module_db, generation(module_db, battle, "a")["id"])
    assert all(a["outcome"] != "done" for a in log if a["worker_id"] == frozen), log


def _two_answers_in_flight_on(stack: ArenaStack, db: str, redis_url: str,
                              client: httpx.Client, grace_s: str
                              ) -> tuple[str, list[str], list[StreamWatcher]]:
    """A fresh worker (with this stop grace) takes two long answers while the other
    `long-alpha` workers are frozen; they thaw once both are in its hands."""
    victim = f"w-alpha-{next(_names)}"
    start_worker_with_env(stack, victim, LONG, ARENA_WORKER_GRACE_S=grace_s)
    wait_worker_live(stack, redis_url, LONG, victim)
    others = [n for n in alpha_workers(stack) if n != victim]
    for name in others:
        signal_worker(stack, name, signal.SIGSTOP)
    watchers: list[StreamWatcher] = []
    try:
        battles = [new_battle(client, LONG, SHORT, f"Question {i}?") for i in range(2)]
        watchers = [StreamWatcher(client, b) for b in battles]
        for b in battles:
            wait_holder(stack, db, b, [victim])
        watchers[0].wait(lambda w: w.has("a", "delta"), timeout=60, stack=stack,
                         what="the first token of the first answer")
    finally:
        for name in others:
            signal_worker(stack, name, signal.SIGCONT)
    return victim, battles, watchers


def test_sigterm_finishes_the_answers_in_flight_once(
    stack: ArenaStack, module_db: str, redis_url: str, client: httpx.Client
) -> None:
    """A grace period longer than the answers: the stopping worker finishes both (renewing
    their leases all the while, so nobody else starts them again), then exits."""
    seen = Seen()
    victim, battles, watchers = _two_answers_in_flight_on(
        stack, module_db, redis_url, client, grace_s="60")
    signal_worker(stack, victim, signal.SIGTERM)
    try:
        for w in watchers:
            w.wait_end(timeout=90, stack=stack)
    finally:
        for w in watchers:
            w.close()
    rc = wait_exit(stack, victim, timeout=60)
    assert rc == 0, f"{victim} exited with {rc}:\n{stack.log(victim)}"
    for w in watchers:
        seen.add_stream(w)
    gens = wait_generations_finished(module_db, battles, timeout=30, stack=stack)
    twice = [(g["battle_id"][:8], g["attempts"], g["worker_id"]) for g in gens
             if g["side"] == "a" and (g["attempts"] != 1 or g["worker_id"] != victim)]
    assert not twice, (
        f"answers in flight at SIGTERM were started again by another worker (battle, "
        f"attempts, finished by) instead of being finished by {victim}: {twice}\n"
        f"{stack_logs(stack)}")
    for b in battles:
        seen.vote(client, b)
    check_nothing_lost(module_db, seen, battles)


def test_sigterm_past_the_grace_hands_the_rest_back_at_once(
    stack: ArenaStack, module_db: str, redis_url: str, client: httpx.Client
) -> None:
    """A grace period shorter than the answers: the worker hands the unfinished ones back
    (outcome `released`) and exits; another worker finishes them, each exactly once."""
    seen = Seen()
    victim, battles, watchers = _two_answers_in_flight_on(
        stack, module_db, redis_url, client, grace_s="1")
    signal_worker(stack, victim, signal.SIGTERM)
    try:
        rc = wait_exit(stack, victim, timeout=20)  # 1 s grace, then hand back and go
        for w in watchers:
            w.wait_end(timeout=90, stack=stack)
    finally:
        for w in watchers:
            w.close()
    assert rc == 0, f"{victim} exited with {rc}:\n{stack.log(victim)}"
    for w in watchers:
        seen.add_stream(w)
    wait_generations_finished(module_db, battles, timeout=30, stack=stack)
    for b in battles:
        seen.vote(client, b)
    check_nothing_lost(module_db, seen, battles)
    released = 0
    for b in battles:
        gen = generation(module_db, b, "a")
        log = [(a["worker_id"], a["outcome"]) for a in attempts(module_db, gen["id"])]
        mine = [outcome for worker, outcome in log if worker == victim]
        assert mine in (["done"], ["released"]), (
            f"{victim}'s attempt at {b[:8]} ended neither done nor released: {log}")
        released += mine == ["released"]
    assert released, "nothing was handed back although the grace was shorter than the answers"
