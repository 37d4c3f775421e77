"""A short load run on the deployment path: 8 simulated visitors for 30 seconds against
uvicorn, PostgreSQL, Redis Streams and two worker processes with the tiny models.

Each visitor accepts the terms, then starts anonymous battles, reads each stream to the
end (a quarter of the turns reload mid-answer and resume with Last-Event-ID), sometimes
asks a follow-up, and votes; a quarter of the visitors use three tabs at once and so meet
the cap on answers in flight. The only refusals allowed are deliberate 429s (their
Retry-After is honoured); anything else is an error and fails the test: another non-2xx,
a reset connection or timeout, a stream without both answers or whose deltas are not the
answer, an acknowledged vote missing from PostgreSQL, a generation not done or failed.

The latency table (p50/p95/p99 of battle creation, TTFT, stream completion, vote) is
printed (`pytest -s` shows it), logged, and written next to the process logs. The longer
run is benchmarks/bench_load.py; its figures are in benchmarks/README.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.load_driver import LoadConfig, format_report, run_load, verify_database
from tests.arena.stack import ArenaStack, services_stack
from tests.faults.helpers import Seen, check_nothing_lost, norm_id, stack_logs, write_registry

log = logging.getLogger(__name__)

VISITORS = 8
DURATION_S = 30.0
MODELS = {"load-alpha": "w-load-alpha", "load-beta": "w-load-beta"}

# The arena's defaults, except: no moderation models (their cost is not what this run is
# about, and they would take the two cores); limits that a busy visitor can reach (about
# 15 battles a minute from one tab here, so a three-tab visitor meets the battle limit and
# everyone with several tabs meets the cap of 4 answers in flight) without most requests
# being refused. All visitors share 127.0.0.1, whose limit is per-visitor x the IP factor.
ARENA_ENV = {
    "ARENA_MODERATION_ENABLED": "false",
    "ARENA_BATTLES_PER_VISITOR": "24/minute",
    "ARENA_VOTES_PER_VISITOR": "300/day",
    "ARENA_RATE_IP_FACTOR": str(VISITORS),
    "ARENA_MAX_GENERATIONS_IN_FLIGHT": "4",
}


@pytest.fixture(scope="module")
def stack(
    module_db: str, redis_url: str, module_prefix: str, tiny_models: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ArenaStack]:
    data = tmp_path_factory.mktemp("load-run")
    registry = write_registry(data / "models.yaml", {
        "load-alpha": (tiny_models["tiny-alpha"], 48),
        "load-beta": (tiny_models["tiny-beta"], 48),
    })
    s = services_stack(module_db, redis_url, module_prefix, registry, data, **ARENA_ENV)
    try:
        s.start_web()
        for model, name in MODELS.items():
            s.start_worker(name, model)
        s.wait_models_online(list(MODELS))
        yield s
    finally:
        s.stop()


def test_load_run_has_no_errors_but_deliberate_429s(stack: ArenaStack, module_db: str) -> None:
    cfg = LoadConfig(
        base_url=stack.url, visitors=VISITORS, duration_s=DURATION_S,
        follow_up_p=0.25, reload_p=0.25, multi_tab_p=0.25, tabs=3, think_s=(0.2, 1.0),
        ramp_s=2.0, request_timeout_s=20.0, stream_timeout_s=40.0, grace_s=45.0, seed=9,
    )
    result = asyncio.run(run_load(cfg))
    asyncio.run(verify_database(result, module_db, settle_s=30.0))

    report = format_report(result, title="CI load run (services stack, tiny models)")
    print("\n" + report)
    log.info("load run\n%s", report)
    (stack.log_dir / "load-run.md").write_text(report + "\n")

    assert not result.errors, f"the load run found errors:\n{report}\n{stack_logs(stack)}"

    # The database agrees with what the visitors were told (the fault suite's invariants):
    # nothing stuck, each answer shown is the stored one, each acknowledged vote stored
    # once, no answer generated twice after it finished.
    seen = Seen(
        answers={(norm_id(b), turn, side): text
                 for (b, turn, side), text in result.answers.items()},
        votes={norm_id(b): w for b, w in result.votes.items()},
    )
    check_nothing_lost(module_db, seen, result.battles)

    # The run was a load run: every visitor got going, battles streamed to the end and
    # were voted on, the reload and follow-up paths ran, and refusals stayed a minority.
    counts = result.counts
    assert counts["visitors"] == VISITORS, report
    assert counts["battles"] >= 2 * VISITORS and len(result.votes) >= VISITORS, report
    assert counts["reloads"] >= 1 and counts["follow_ups"] >= 1, report
    attempts = sum(n for (endpoint, _), n in result.statuses.items() if endpoint != "GET /stream")
    assert sum(result.refusals.values()) <= attempts / 4, report
