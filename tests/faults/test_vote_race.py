"""A vote and a follow-up question sent at the same moment on a finished battle, 100
times: exactly one of them wins each time (the other gets 409), and the database agrees
(a vote, or a second turn, never both)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.arena.stack import ArenaStack, services_stack
from tests.faults.helpers import (
    FAULT_ENV,
    Seen,
    check_nothing_lost,
    consented,
    new_battle,
    norm_id,
    sql,
    stop_stack,
    wait_generations_finished,
    write_registry,
)

ROUNDS, BATCH = 100, 10
MODELS = ("race-alpha", "race-beta")


@pytest.fixture(scope="module")
def stack(
    module_db: str, redis_url: str, module_prefix: str, tiny_models: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ArenaStack]:
    data = tmp_path_factory.mktemp("vote-race")
    registry = write_registry(data / "models.yaml", {
        MODELS[0]: (tiny_models["tiny-alpha"], 2), MODELS[1]: (tiny_models["tiny-beta"], 2),
    })
    s = services_stack(module_db, redis_url, module_prefix, registry, data, **FAULT_ENV,
                       ARENA_RATE_LIMITS_ENABLED="false")
    try:
        s.start_web()
        for i, model in enumerate(MODELS):
            s.start_worker(f"w-{i}", model)
        s.wait_models_online(list(MODELS))
        yield s
    finally:
        stop_stack(s)


def test_vote_and_follow_up_at_once_exactly_one_wins(stack: ArenaStack, module_db: str) -> None:
    owner = consented(stack.url)
    # Two more connections of the same visitor (same cookie), one per racing request,
    # opened beforehand so that neither request pays for a connect.
    voter = httpx.Client(base_url=stack.url, cookies=owner.cookies, timeout=30)
    asker = httpx.Client(base_url=stack.url, cookies=owner.cookies, timeout=30)
    for c in (voter, asker):
        assert c.get("/healthz").status_code == 200

    def race(battle: str) -> tuple[int, int, str, str]:
        barrier = threading.Barrier(2, timeout=30)

        def vote() -> httpx.Response:
            barrier.wait()
            return voter.post(f"/api/battles/{battle}/vote", json={"winner": "model_b"})

        def follow_up() -> httpx.Response:
            barrier.wait()
            return asker.post(f"/api/battles/{battle}/turns", json={"prompt": "And then?"})

        v, t = pool.submit(vote), pool.submit(follow_up)
        rv, rt = v.result(timeout=60), t.result(timeout=60)
        return rv.status_code, rt.status_code, rv.text[:200], rt.text[:200]

    outcomes: dict[str, tuple[int, int, str, str]] = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for start in range(0, ROUNDS, BATCH):
            battles = [new_battle(owner, *MODELS, f"Race {start + i}?") for i in range(BATCH)]
            wait_generations_finished(module_db, battles, timeout=60, stack=stack)
            for battle in battles:
                outcomes[norm_id(battle)] = race(battle)
    for c in (voter, asker):
        c.close()

    def kind(v: int, t: int) -> str:
        if v == 200 and t == 201:
            return "both won"
        if v == 200 and t == 409:
            return "vote won"
        if t == 201 and v == 409:
            return "follow-up won"
        return f"vote {v} / follow-up {t}"

    tally = Counter(kind(v, t) for v, t, _, _ in outcomes.values())
    examples = {kind(v, t): (b[:8], vt[:80], tt[:80]) for b, (v, t, vt, tt) in outcomes.items()
                if kind(v, t) not in ("vote won", "follow-up won")}
    assert set(tally) <= {"vote won", "follow-up won"}, (
        f"{ROUNDS} races of a vote and a follow-up: {dict(tally)}; e.g. {examples}")

    wait_generations_finished(module_db, list(outcomes), timeout=60, stack=stack)
    votes = {norm_id(r["battle_id"]) for r in sql(module_db, "SELECT battle_id FROM votes")}
    turns = Counter(norm_id(r["battle_id"]) for r in sql(module_db, "SELECT battle_id FROM turns"))
    disagree = []
    for battle, (v, t, _, _) in outcomes.items():
        stored = (battle in votes, turns[battle] == 2)
        if stored != (v == 200, t == 201) or stored[0] == stored[1]:
            disagree.append((battle[:8], f"vote {v}, follow-up {t}", f"vote stored {stored[0]}, "
                             f"turns {turns[battle]}"))
    assert not disagree, f"the database does not match the answers: {disagree[:10]}"
    seen = Seen(votes={b: "model_b" for b, (v, _, _, _) in outcomes.items() if v == 200})
    check_nothing_lost(module_db, seen, list(outcomes))
