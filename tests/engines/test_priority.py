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
    loop = asyncio.get_running_loop()
    first_token: dict[str, float] = {}

    async def run(name: str, priority: int) -> None:
        request = GenerationRequest([ChatMessage("user", "What is shown?")],
                                    max_new_tokens=24, temperature=0.0, priority=priority)
        async for event in engine.generate(request):
            if isinstance(event, TextDelta):
                first_token.setdefault(name, loop.time())

    try:
        batch = [asyncio.create_task(run(f"judge-{i}", BATCH)) for i in range(4)]
        await asyncio.sleep(0.01)  # the judge calls are queued in the engine first
        arrived = loop.time()
        await asyncio.gather(run("battle", LIVE), *batch)
    finally:
        await engine.close()
    assert set(first_token) == {"battle", *(f"judge-{i}" for i in range(4))}
    # Between the battle's arrival and its first token, at most the judge call that was
    # running (or just starting) when it arrived gets going; the queued ones wait.
    overtook = [n for n, t in first_token.items()
                if n != "battle" and arrived < t < first_token["battle"]]
    assert len(overtook) <= 1, (overtook, first_token)
    assert sum(1 for n, t in first_token.items() if t > first_token["battle"]) >= 2
