"""An answer is screened after it is saved and its job acked; a heartbeat that comes while
the screening runs must not take the finished job for a lost lease and cancel the
screening (it did under load: the acked job's lease was "lost", so the task was cancelled
and the answer never screened). The real moderation gate screens; the test only holds it
until several heartbeats have passed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.arena.battles import Limits, create_battle, record_screening
from app.db.models import Battle, ModelEntry, Visitor
from app.db.session import make_engine, make_sessionmaker
from app.moderation.gate import ModerationGate
from app.queue.memory_queue import MemoryQueue
from app.storage.blobs import LocalBlobStore
from workers.engines.base import EngineConfig
from workers.engines.factory import make_engine as make_model_engine
from workers.worker import Worker

MODEL = "tiny-alpha"
LIMITS = Limits(max_prompt_chars=1000, max_turns=4, max_queue_depth_per_worker=100)
HEARTBEAT_S = 0.05


class HeldGate:
    """The real gate, entered only when the test lets it."""

    def __init__(self) -> None:
        self.gate = ModerationGate()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def check_text(self, text: str):  # type: ignore[no-untyped-def]
        self.entered.set()
        await self.release.wait()
        return await self.gate.check_text(text)


@pytest.fixture
async def sm(pg_url: str) -> async_sessionmaker:  # type: ignore[misc]
    engine = make_engine(pg_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def test_screening_outlives_heartbeats(sm: async_sessionmaker, tiny_models: dict[str, Path],
                                             tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    async with sm() as session:
        entry = await session.get(ModelEntry, MODEL)
        if entry is None:
            entry = ModelEntry(name=MODEL, backend="transformers", path=str(tiny_models[MODEL]),
                               options={"num_threads": 1}, max_new_tokens=8,
                               sampling={"temperature": 0.0})
            session.add(entry)
            await session.commit()
        visitor = Visitor(ip_hash=uuid.uuid4().hex * 2)
        session.add(visitor)
        await session.commit()
    queue = MemoryQueue()
    gate = HeldGate()
    engine = make_model_engine(EngineConfig(name=MODEL, backend="transformers",
                                            path=entry.path, options=entry.options))
    worker = Worker(model=MODEL, engine=engine, queue=queue, sessionmaker=sm,
                    blobs=LocalBlobStore(tmp_path / "blobs"), concurrency=2,
                    heartbeat_interval_s=HEARTBEAT_S, heartbeat_ttl_s=5, sweep_interval_s=60,
                    answer_gate=gate)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    caplog.set_level(logging.WARNING, logger="arena.worker")
    try:
        started = asyncio.get_running_loop().time()
        while not await queue.live_workers(MODEL):
            assert asyncio.get_running_loop().time() < started + 120, "the worker never started"
            await asyncio.sleep(0.05)
        async with sm() as session:
            battle = await create_battle(
                session, queue, visitor=visitor, ip_hash=visitor.ip_hash, image=None,
                prompt="What is shown?", mode="direct", models=[entry], limits=LIMITS)
        await asyncio.wait_for(gate.entered.wait(), 120)  # saved, acked, now screening
        await asyncio.sleep(20 * HEARTBEAT_S)  # about 20 heartbeats while it is held
        gate.release.set()
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            async with sm() as session:
                row = await session.get(Battle, battle.id, populate_existing=True)
                assert row is not None
                if "answer_0_a" in (row.moderation or {}):
                    break
            assert asyncio.get_running_loop().time() < deadline, (
                "the answer was never screened", row.moderation, caplog.text)
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 60)
    assert row.moderation["answer_0_a"]["decision"] == "allow"
    assert "lost the lease" not in caplog.text

    # The merge is an object merge on PostgreSQL (it once stored [{}, "<json string>"]),
    # and two writers at once both keep their keys.
    async def screen(key: str) -> None:
        async with sm() as session:
            await record_screening(session, battle.id, {key: {"decision": "allow"}},
                                   review=key == "answer_1_b")
            await session.commit()

    await asyncio.gather(screen("answer_1_a"), screen("answer_1_b"))
    async with sm() as session:
        row = await session.get(Battle, battle.id, populate_existing=True)
    assert row is not None and isinstance(row.moderation, dict)
    assert set(row.moderation) == {"answer_0_a", "answer_1_a", "answer_1_b"}
    assert row.review_status == "review"
