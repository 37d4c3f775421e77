"""Judge runs through the real worker and a real (tiny, untrained) model.

An untrained model is the judge that returns garbage: its outputs must be stored as parse
failures with the raw text, never as verdicts. The same model also serves a battle, which
must run before the judge jobs that were queued first (live work comes first).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.arena.battles import Limits, create_battle
from app.db.judge_tables import JudgeRun, Judgment
from app.db.models import GenerationAttempt, ModelEntry, Visitor
from app.db.session import make_engine, make_sessionmaker
from app.judges.runs import (
    JudgmentSpec,
    RunError,
    close_if_complete,
    enqueue_waiting,
    run_progress,
    submit_run,
)
from app.judges.templates import UnknownTemplate, get_template
from app.queue import WorkerInfo
from app.queue.memory_queue import MemoryQueue
from app.storage.blobs import LocalBlobStore
from workers.engines.base import EngineConfig
from workers.engines.factory import make_engine as make_model_engine
from workers.worker import Worker

JUDGE = "tiny-alpha"
LIMITS = Limits(max_prompt_chars=1000, max_turns=4, max_queue_depth_per_worker=100)


@pytest.fixture
async def sm(pg_url: str) -> async_sessionmaker:  # type: ignore[misc]
    engine = make_engine(pg_url)
    maker = make_sessionmaker(engine)
    yield maker
    await engine.dispose()


async def _register(sm: async_sessionmaker, tiny_models: dict[str, Path]) -> ModelEntry:
    async with sm() as session:
        entry = await session.get(ModelEntry, JUDGE)
        if entry is None:
            entry = ModelEntry(name=JUDGE, backend="transformers", path=str(tiny_models[JUDGE]),
                               options={"num_threads": 1, "judge_form": "short"},
                               max_new_tokens=12, sampling={"temperature": 0.0})
            session.add(entry)
            await session.commit()
        return entry


def _specs(n: int, tag: str) -> list[JudgmentSpec]:
    template = get_template("category", 1)
    return [JudgmentSpec(template, JUDGE, {"criterion": "Is it about counting?",
                                           "prompt": f"How many shapes are there? {tag} {i}"},
                         form="short")
            for i in range(n)]


async def _wait(condition, within_s: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + within_s
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_garbage_judge_is_stored_as_parse_failures_and_battles_go_first(
    sm: async_sessionmaker, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    entry = await _register(sm, tiny_models)
    queue = MemoryQueue()
    # The worker is registered but held (not started yet): judge jobs queue up first.
    await queue.heartbeat(WorkerInfo(worker_id="held", model=JUDGE), 600)
    run = await submit(sm, queue, _specs(6, "first"))
    async with sm() as session:
        visitor = Visitor(ip_hash="h" * 64)
        session.add(visitor)
        await session.commit()
        battle = await create_battle(
            session, queue, visitor=visitor, ip_hash="h" * 64, image=None,
            prompt="What is shown?", mode="direct", models=[entry], limits=LIMITS)

    engine = make_model_engine(EngineConfig(name=JUDGE, backend="transformers",
                                            path=entry.path, options=entry.options))
    worker = Worker(model=JUDGE, engine=engine, queue=queue, sessionmaker=sm,
                    blobs=LocalBlobStore(tmp_path / "blobs"), concurrency=2, batch_share=0.5,
                    sweep_interval_s=60)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        async def finished() -> bool:
            async with sm() as session:
                return (await close_if_complete(session, run.id)).complete
        await _wait(finished)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 60)

    async with sm() as session:
        progress = await run_progress(session, run.id)
        judgments = (await session.scalars(
            select(Judgment).where(Judgment.run_id == run.id))).all()
        started = (await session.scalars(
            select(GenerationAttempt.started_at).join(GenerationAttempt.generation)
            .where(GenerationAttempt.generation.has(turn_id=battle.turns[0].id)))).all()
        status = await session.scalar(select(JudgeRun.status).where(JudgeRun.id == run.id))
    assert (progress.total, progress.done, progress.failed) == (6, 6, 0)
    assert progress.parse_failures == 6 and status == "done"
    for j in judgments:
        assert j.parsed is None and j.raw_output is not None
        assert j.parse_error and j.parse_error.startswith("decision")
        assert (j.task, j.template_version, j.judge_model, j.form) == (
            "category", 1, JUDGE, "short")
        assert j.sampling["temperature"] == 0.0 and j.completion_tokens
    # The battle queued after six judge jobs started before any of them.
    assert len(started) == 1 and started[0] < min(j.started_at for j in judgments)

    # Submitting the same work again adopts the finished rows and redoes nothing.
    again = await submit(sm, queue, _specs(6, "first"))
    async with sm() as session:
        assert await enqueue_waiting(session, queue, again.id) == 0
        assert (await run_progress(session, again.id)).done == 6
        assert (await run_progress(session, run.id)).total == 0
    assert await queue.held(JUDGE, lane="batch") == set()


async def submit(sm: async_sessionmaker, queue: MemoryQueue, specs: list[JudgmentSpec]) -> JudgeRun:
    async with sm() as session:
        return await submit_run(session, queue, kind="test", label="garbage judge",
                                specs=specs)


async def test_bad_runs_get_a_clear_message_and_write_nothing(
    sm: async_sessionmaker, tiny_models: dict[str, Path]
) -> None:
    await _register(sm, tiny_models)
    queue = MemoryQueue()
    async with sm() as session:
        before = len((await session.scalars(select(JudgeRun.id))).all())
    with pytest.raises(RunError, match="no eligible items"):
        await submit(sm, queue, [])
    with pytest.raises(RunError, match="no live worker"):  # the judge is offline
        await submit(sm, queue, _specs(2, "offline"))
    await queue.heartbeat(WorkerInfo(worker_id="w", model=JUDGE), 600)
    spec = _specs(1, "unknown model")[0]
    with pytest.raises(RunError, match="unknown model"):
        await submit(sm, queue, [JudgmentSpec(spec.template, "no-such-model", spec.inputs)])
    with pytest.raises(UnknownTemplate, match="available versions: 1"):
        get_template("category", 9)
    with pytest.raises(ValueError, match="missing inputs"):
        await submit(sm, queue, [JudgmentSpec(spec.template, JUDGE, {"prompt": "x"})])
    async with sm() as session:
        assert len((await session.scalars(select(JudgeRun.id))).all()) == before
    assert await queue.held(JUDGE, lane="batch") == set()
