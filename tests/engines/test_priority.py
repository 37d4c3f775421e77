"""Battles before judge calls inside an engine that runs one generation at a time."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from workers.engines.base import ChatMessage, EngineConfig, GenerationRequest, TextDelta
from workers.engines.priority import BATCH, LIVE, PriorityGate


async def test_the_gate_serves_priority_then_arrival_and_survives_cancellation() -> None:
    gate = PriorityGate()
    order: list[str] = []
    await gate.acquire(BATCH)  # something is running

    async def wait(name: str, priority: int) -> None:
        await gate.acquire(priority)
        order.append(name)
        await asyncio.sleep(0)
        gate.release()

    tasks = [asyncio.create_task(wait(n, p)) for n, p in
             (("batch-1", BATCH), ("batch-2", BATCH), ("gone", LIVE), ("live", LIVE))]
    await asyncio.sleep(0)
    tasks[2].cancel()  # a visitor who left while waiting
    await asyncio.sleep(0)
    assert gate.waiting == 3
    gate.release()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert order == ["live", "batch-1", "batch-2"]
    await asyncio.wait_for(gate.acquire(BATCH), 1)  # free again


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.tinyvlm.build import build_tiny_llava

    return build_tiny_llava(tmp_path_factory.mktemp("prio") / "m", seed=5)


async def test_a_battle_overtakes_queued_judge_calls_in_the_transformers_engine(
    model_dir: Path,
) -> None:
    from workers.engines.transformers_engine import TransformersEngine

    engine = TransformersEngine(EngineConfig("p", "transformers", str(model_dir),
                                             {"num_threads": 1}))
    await engine.start()
    firsts: list[str] = []

    async def run(name: str, priority: int) -> None:
        request = GenerationRequest([ChatMessage("user", "What is shown?")],
                                    max_new_tokens=12, temperature=0.0, priority=priority)
        async for event in engine.generate(request):
            if isinstance(event, TextDelta) and name not in firsts:
                firsts.append(name)

    try:
        batch = [asyncio.create_task(run(f"judge-{i}", BATCH)) for i in range(4)]
        await asyncio.sleep(0.05)  # the judge calls are queued in the engine first
        await asyncio.gather(run("battle", LIVE), *batch)
    finally:
        await engine.close()
    # At most the judge call already running finishes its first token before the battle.
    assert firsts.index("battle") <= 1, firsts
    assert sorted(firsts) == sorted(["battle", *(f"judge-{i}" for i in range(4))])
