"""The inference worker: serves one model, keeps many jobs in flight, persists the results.

Protocol (see app/queue): claim jobs (reclaiming any whose lease ran out because their
worker died), stream token deltas to `gen:{id}`, write the final answer to the database,
then ack. While a job runs, the heartbeat loop renews its lease; a dead worker stops
renewing and a live one takes over, telling the page to clear that side (`reset`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections import deque
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import selectinload

from app.db.models import Battle, Generation
from app.queue import ClaimedJob, JobQueue, WorkerInfo
from app.storage.blobs import LocalBlobStore
from workers import job_store
from workers.engines.base import (
    Engine,
    Finished,
    GenerationRequest,
    TextDelta,
)

log = logging.getLogger("arena.worker")


class DeltaBatcher:
    """Publishes the token deltas of every generation of this worker in shared batches.

    A delta goes out at once when no write is in flight (time to first token); while one
    is, new deltas of all streams gather and leave together in the next pipelined write.
    Under load the number of Redis round trips stays near one per write latency instead of
    one per token per stream, which keeps the CPU for the engine.
    """

    def __init__(self, queue: JobQueue) -> None:
        self.queue = queue
        self._buffers: dict[str, list[str]] = {}
        self._task: asyncio.Task[None] | None = None
        self._pushed = 0  # deltas accepted so far
        self._published = 0  # deltas written so far
        self._progress = asyncio.Event()

    def push(self, generation_id: str, text: str) -> None:
        self._buffers.setdefault(generation_id, []).append(text)
        self._pushed += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        while self._buffers:
            batch, self._buffers = self._buffers, {}
            count = sum(len(parts) for parts in batch.values())
            try:
                await self.queue.publish_many(
                    [(gid, {"type": "delta", "text": "".join(parts)}) for gid, parts in
                     batch.items()]
                )
            finally:
                self._published += count
                event, self._progress = self._progress, asyncio.Event()
                event.set()

    async def flush(self) -> None:
        """Wait until every delta pushed before this call has been written."""
        target = self._pushed
        while self._published < target:
            if self._task is None or self._task.done():
                if self._buffers:
                    self._task = asyncio.create_task(self._drain())
                elif self._published < target:
                    raise RuntimeError("deltas were lost before publishing")
            await self._progress.wait()


class Worker:
    def __init__(
        self,
        *,
        model: str,
        engine: Engine,
        queue: JobQueue,
        sessionmaker: async_sessionmaker,
        blobs: LocalBlobStore,
        concurrency: int = 16,
        max_attempts: int = 3,
        heartbeat_interval_s: float = 1.0,
        heartbeat_ttl_s: float = 6.0,
        worker_id: str | None = None,
        answer_gate: Any | None = None,
    ) -> None:
        self.model = model
        self.answer_gate = answer_gate  # an app.moderation.ModerationGate, optional
        self.engine = engine
        self.queue = queue
        self.sessionmaker = sessionmaker
        self.blobs = blobs
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self.heartbeat_interval_s = heartbeat_interval_s
        self.heartbeat_ttl_s = heartbeat_ttl_s
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._deltas = DeltaBatcher(queue)
        self._recent: deque[tuple[float, int, float | None]] = deque(maxlen=200)

    # -- liveness -------------------------------------------------------------------------
    def info(self) -> WorkerInfo:
        now = time.monotonic()
        window = [(t, n, f) for t, n, f in self._recent if now - t < 60]
        tokens = sum(n for _, n, _ in window)
        ttfts = [f for _, _, f in window if f is not None]
        return WorkerInfo(
            worker_id=self.worker_id,
            model=self.model,
            in_flight=len(self._in_flight),
            concurrency=self.concurrency,
            tokens_per_s=tokens / 60.0,
            ttft_ms=sum(ttfts) / len(ttfts) if ttfts else None,
        )

    async def _heartbeat_loop(self) -> None:
        while True:
            try:
                await self.queue.heartbeat(self.info(), self.heartbeat_ttl_s)
                await self.queue.extend(self.model, self.worker_id, list(self._in_flight))
            except Exception:  # a blip in Redis must not kill the worker
                log.exception("heartbeat failed")
            await asyncio.sleep(self.heartbeat_interval_s)

    # -- main loop ------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event | None = None, *, start_engine: bool = True) -> None:
        stop = stop or asyncio.Event()
        if start_engine:
            await self.engine.start()
        heartbeat = asyncio.create_task(self._heartbeat_loop())
        log.info("worker %s serving %s (concurrency %d)", self.worker_id, self.model,
                 self.concurrency)
        try:
            while not stop.is_set():
                free = self.concurrency - len(self._in_flight)
                if free <= 0:
                    await asyncio.wait(
                        self._in_flight.values(), return_when=asyncio.FIRST_COMPLETED
                    )
                    continue
                try:
                    jobs = await self.queue.claim(self.model, self.worker_id, free, 500)
                except Exception:
                    log.exception("claim failed")
                    await asyncio.sleep(1)
                    continue
                for job in jobs:
                    if job.message_id in self._in_flight:
                        continue
                    task = asyncio.create_task(self._process(job))
                    self._in_flight[job.message_id] = task
                    task.add_done_callback(
                        lambda _t, mid=job.message_id: self._in_flight.pop(mid, None)
                    )
        finally:
            heartbeat.cancel()
            with contextlib.suppress(Exception):
                await self.queue.remove_worker(self.model, self.worker_id)
            if self._in_flight:  # graceful stop: let running answers finish
                await asyncio.wait(self._in_flight.values(), timeout=30)
            await self.engine.close()

    # -- one job --------------------------------------------------------------------------
    async def _process(self, job: ClaimedJob) -> None:
        gid = job.generation_id
        try:
            async with self.sessionmaker() as session:
                ctx = await job_store.begin_attempt(session, gid, self.worker_id)
            if ctx is None:
                await self.queue.ack(self.model, job.message_id)  # a duplicate delivery
                return
            if ctx.attempt > self.max_attempts:
                await self._fail(job, f"gave up after {ctx.attempt - 1} attempts")
                return
            request = GenerationRequest(
                messages=ctx.messages,
                image=await self.blobs.get(ctx.image_sha256) if ctx.image_sha256 else None,
                max_new_tokens=int(ctx.params.get("max_new_tokens", 256)),
                temperature=float(ctx.params.get("temperature", 0.7)),
                top_p=float(ctx.params.get("top_p", 1.0)),
                seed=ctx.params.get("seed"),
                request_id=f"{gid}-{ctx.attempt}",
            )
            if ctx.attempt > 1:
                await self.queue.publish(gid, {"type": "reset", "attempt": ctx.attempt})
            await self._generate(gid, job, request)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("generation %s failed", gid)
            await self._retry_or_fail(job, repr(exc))

    async def _generate(self, gid: str, job: ClaimedJob, request: GenerationRequest) -> None:
        start = time.monotonic()
        first: float | None = None
        parts: list[str] = []
        finished: Finished | None = None
        async for event in self.engine.generate(request):
            # NUL can not be stored in PostgreSQL text, and no reader wants it: drop it.
            text = event.text.replace("\x00", "") if isinstance(event, TextDelta) else ""
            if text:
                if first is None:
                    first = time.monotonic()
                parts.append(text)
                self._deltas.push(gid, text)
            elif isinstance(event, Finished):
                finished = event
        await self._deltas.flush()
        if finished is None:
            raise RuntimeError("engine ended without a Finished event")
        end = time.monotonic()
        text = "".join(parts)
        ttft = (first - start) * 1000 if first is not None else None
        async with self.sessionmaker() as session:
            await job_store.save_answer(
                session, gid, text=text, prompt_tokens=finished.prompt_tokens,
                completion_tokens=finished.completion_tokens,
                finish_reason=finished.finish_reason, ttft_ms=ttft,
                latency_ms=(end - start) * 1000,
            )
        # Saved first, then told: a page that sees "done" can reload and find the answer.
        await self.queue.publish(
            gid, {"type": "done", "finish_reason": finished.finish_reason,
                  "completion_tokens": finished.completion_tokens}
        )
        await self.queue.finish_stream(gid)
        await self.queue.ack(self.model, job.message_id)
        self._recent.append((end, finished.completion_tokens, ttft))
        if self.answer_gate is not None and text:
            try:
                await self._screen_answer(gid, text)
            except Exception:  # moderation trouble must never lose an answer
                log.exception("answer moderation failed for %s", gid)

    async def _screen_answer(self, gid: str, text: str) -> None:
        """Answers pass the same gate as prompts; anything not allowed flags the battle."""
        result = await self.answer_gate.check_text(text)  # type: ignore[union-attr]
        async with self.sessionmaker() as session:
            gen = await session.get(
                Generation, uuid.UUID(gid), options=[selectinload(Generation.turn)]
            )
            assert gen is not None
            battle = await session.get(Battle, gen.turn.battle_id, with_for_update=True)
            assert battle is not None
            key = f"answer_{gen.turn.index}_{gen.side}"
            battle.moderation = {**battle.moderation, key: result.to_json()}
            if result.decision != "allow" and battle.review_status == "none":
                battle.review_status = "review"
            await session.commit()

    async def _retry_or_fail(self, job: ClaimedJob, reason: str) -> None:
        async with self.sessionmaker() as session:
            attempts = await job_store.requeue(session, job.generation_id, reason)
        if attempts is None:
            await self.queue.ack(self.model, job.message_id)
            return
        if attempts >= self.max_attempts:
            await self._fail(job, reason)
            return
        # A fresh job for the next attempt; the old delivery is done with.
        await self.queue.enqueue(self.model, job.generation_id)
        await self.queue.ack(self.model, job.message_id)

    async def _fail(self, job: ClaimedJob, reason: str) -> None:
        async with self.sessionmaker() as session:
            await job_store.mark_failed(session, job.generation_id, reason)
        await self.queue.publish(job.generation_id, {"type": "error"})
        await self.queue.finish_stream(job.generation_id)
        await self.queue.dead_letter(self.model, job.generation_id, reason)
        await self.queue.ack(self.model, job.message_id)
