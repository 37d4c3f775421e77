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

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.arena.battles import record_screening
from app.arena.redraw import announce
from app.config import Settings
from app.db.errors import is_db_outage
from app.db.models import Generation, Turn
from app.queue import ClaimedJob, JobQueue, WorkerInfo
from app.queue.base import LANES
from app.storage.blobs import LocalBlobStore
from workers import job_store, judgment_store
from workers.engines.base import (
    Engine,
    Finished,
    GenerationRequest,
    TextDelta,
)
from workers.judge_jobs import run_judgment
from workers.metrics import record_generation
from workers.sweeper import sweep

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
        self._buffers: dict[tuple[str, int], list[str]] = {}
        # Per (generation, attempt): the sequence number of its last published delta, so
        # that a write retried after a dropped connection can not show twice (the relay
        # drops a sequence number it has seen).
        self._seq: dict[tuple[str, int], int] = {}
        self._task: asyncio.Task[None] | None = None
        self._pushed = 0  # deltas accepted so far
        self._published = 0  # deltas written so far
        self._progress = asyncio.Event()

    def push(self, generation_id: str, attempt: int, text: str) -> None:
        """Deltas carry their attempt, so that the relay can drop a superseded attempt's."""
        self._buffers.setdefault((generation_id, attempt), []).append(text)
        self._pushed += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        while self._buffers:
            batch, self._buffers = self._buffers, {}
            count = sum(len(parts) for parts in batch.values())
            try:
                events = []
                for (gid, attempt), parts in batch.items():
                    seq = self._seq.get((gid, attempt), 0) + 1
                    self._seq[(gid, attempt)] = seq
                    events.append((gid, {"type": "delta", "text": "".join(parts),
                                         "attempt": attempt, "seq": seq}))
                await self.queue.publish_many(events)
            finally:
                self._published += count
                event, self._progress = self._progress, asyncio.Event()
                event.set()

    def forget(self, generation_id: str, attempt: int) -> None:
        self._seq.pop((generation_id, attempt), None)

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


def settings_options(settings: Settings) -> dict[str, Any]:
    """The Worker arguments that come from settings, for every place that builds one."""
    return dict(
        max_attempts=settings.max_attempts,
        heartbeat_interval_s=settings.heartbeat_interval_s,
        heartbeat_ttl_s=settings.heartbeat_ttl_s,
        grace_s=settings.worker_grace_s,
        sweep_interval_s=settings.sweep_interval_s,
        sweep_grace_s=settings.sweep_grace_s,
        batch_share=settings.batch_share,
    )


# The fenced statements of each job kind share their signatures.
STORES: dict[str, Any] = {"generation": job_store, "judgment": judgment_store}


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
        grace_s: float = 25.0,
        sweep_interval_s: float = 10.0,
        sweep_grace_s: float = 10.0,
        batch_share: float = 0.5,
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
        self.grace_s = grace_s
        self.sweep_interval_s = sweep_interval_s
        self.sweep_grace_s = sweep_grace_s
        # Batch jobs (judges, bench answers) may hold at most this many slots, so that a
        # visitor's battle always finds room even while a judge run keeps the engine busy.
        self.batch_concurrency = max(1, int(concurrency * batch_share))
        # Keyed by (lane, message id): the lanes' streams number their messages separately.
        self._in_flight: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._attempts: dict[tuple[str, str], tuple[ClaimedJob, int]] = {}
        # Jobs acked while their task still runs (an answer being screened): no lease left
        # to renew or to hand back, and losing it is no reason to stop the task.
        self._acked: set[tuple[str, str]] = set()
        self._stopping = False
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
                if not self._stopping:  # a stopping worker takes no new battles
                    await self.queue.heartbeat(self.info(), self.heartbeat_ttl_s)
                for lane in LANES:
                    ids = [mid for (ln, mid) in self._in_flight
                           if ln == lane and (ln, mid) not in self._acked]
                    lost = await self.queue.extend(self.model, self.worker_id, ids, lane=lane)
                    for message_id in lost:
                        self._abandon((lane, message_id))
            except Exception:  # a blip in Redis must not kill the worker
                log.exception("heartbeat failed")
            await asyncio.sleep(self.heartbeat_interval_s)

    def _abandon(self, key: tuple[str, str]) -> None:
        """Another worker holds this job now (our lease ran out while we stalled): stop
        generating it. Its writes would be refused anyway; this only saves the work."""
        task = self._in_flight.get(key)
        if task is not None and not task.done() and key not in self._acked:
            log.warning("lost the lease of %s; stopping it", key)
            task.cancel()

    async def _sweep_loop(self) -> None:
        while True:
            try:
                await sweep(self.queue, self.sessionmaker, self.model,
                            grace_s=self.sweep_grace_s, max_attempts=self.max_attempts,
                            lock_ttl_ms=max(1, int(self.sweep_interval_s * 900)))
            except Exception:  # the database or Redis is away; try again next time
                log.exception("sweep failed")
            await asyncio.sleep(self.sweep_interval_s)

    # -- main loop ------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event | None = None, *, start_engine: bool = True) -> None:
        stop = stop or asyncio.Event()
        if start_engine:
            await self.engine.start()
        heartbeat = asyncio.create_task(self._heartbeat_loop())
        sweeper = asyncio.create_task(self._sweep_loop())
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
                    jobs = await self._claim(free)
                except Exception:
                    log.exception("claim failed")
                    await asyncio.sleep(1)
                    continue
                for job in jobs:
                    key = (job.lane, job.message_id)
                    if key in self._in_flight:
                        continue
                    task = asyncio.create_task(self._process(job))
                    self._in_flight[key] = task
                    task.add_done_callback(lambda _t, k=key: self._forget(k))
        finally:
            sweeper.cancel()
            self._stopping = True
            # Graceful stop: no new jobs; leases stay renewed while running answers finish,
            # and what can not finish in the grace period is handed back at once.
            with contextlib.suppress(Exception):
                await self.queue.remove_worker(self.model, self.worker_id)
            await self._drain_in_flight()
            heartbeat.cancel()
            await self.engine.close()

    def _forget(self, key: tuple[str, str]) -> None:
        self._in_flight.pop(key, None)
        self._acked.discard(key)

    async def _ack(self, job: ClaimedJob) -> None:
        """Ack a job whose task goes on (screening its answer): its lease is over."""
        await self.queue.ack(self.model, job.message_id, lane=job.lane)
        self._acked.add((job.lane, job.message_id))

    async def _claim(self, free: int) -> list[ClaimedJob]:
        """Live jobs first, always; batch jobs only when no live job waits, and only up to
        their share of the slots; then wait for a live job (a batch job waits at most that
        long to be noticed)."""
        jobs = await self.queue.claim(self.model, self.worker_id, free, 0)
        if jobs:
            return jobs
        batch_free = min(free, self.batch_concurrency - sum(
            1 for lane, _ in self._in_flight if lane == "batch"))
        if batch_free > 0:
            jobs = await self.queue.claim(self.model, self.worker_id, batch_free, 0,
                                          lane="batch")
            if jobs:
                return jobs
        # While judgments run, look again soon: one finishing frees a batch slot, and that
        # must not wait for a live job to arrive (it capped judge throughput).
        batch_running = any(lane == "batch" for lane, _ in self._in_flight)
        return await self.queue.claim(self.model, self.worker_id, free,
                                      50 if batch_running else 500)

    async def _drain_in_flight(self) -> None:
        if self._in_flight:
            await asyncio.wait(list(self._in_flight.values()), timeout=self.grace_s)
        unfinished = [(t, None if key in self._acked else self._attempts.get(key))
                      for key, t in self._in_flight.items() if not t.done()]
        for task, _ in unfinished:
            task.cancel()
        for task, held in unfinished:
            with contextlib.suppress(BaseException):
                await task
            if held is not None:
                job, attempt = held
                try:
                    await self._hand_back(job, attempt, "worker stopped", outcome="released")
                except Exception:  # its lease runs out and another worker reclaims it
                    log.exception("could not hand back %s", job.generation_id)

    # -- one job --------------------------------------------------------------------------
    async def _process(self, job: ClaimedJob) -> None:
        if job.kind == "judgment":
            await self._process_judgment(job)
            return
        gid = job.generation_id
        attempt: int | None = None
        base = 0  # attempts before a re-draw gave this side to this model
        try:
            async with self.sessionmaker() as session:
                ctx = await job_store.begin_attempt(session, gid, self.worker_id)
            if ctx is None:
                await self.queue.ack(self.model, job.message_id)  # a duplicate delivery
                return
            attempt = ctx.attempt
            base = ctx.base
            self._attempts[(job.lane, job.message_id)] = (job, attempt)
            if ctx.tries > self.max_attempts:
                await self._fail(job, attempt, f"gave up after {ctx.tries - 1} attempts")
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
            await self._generate(gid, job, attempt, request)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("generation %s failed", gid)
            if attempt is not None:
                await self._retry_or_fail(job, attempt, repr(exc), base=base)
        finally:
            self._attempts.pop((job.lane, job.message_id), None)

    async def _process_judgment(self, job: ClaimedJob) -> None:
        attempt: int | None = None
        try:
            async with self.sessionmaker() as session:
                ctx = await judgment_store.begin_attempt(session, job.generation_id,
                                                         self.worker_id)
            if ctx is None:
                await self.queue.ack(self.model, job.message_id, lane=job.lane)
                return
            attempt = ctx.attempt
            self._attempts[(job.lane, job.message_id)] = (job, attempt)
            if ctx.attempt > self.max_attempts:
                await self._fail(job, attempt, f"gave up after {ctx.attempt - 1} attempts")
                return
            outcome = await run_judgment(self.engine, self.blobs, self.sessionmaker, ctx)
            if outcome.permanent_error:
                await self._fail(job, attempt, outcome.permanent_error)
            elif outcome.saved:
                self._recent.append((time.monotonic(), outcome.completion_tokens, None))
                await self.queue.ack(self.model, job.message_id, lane=job.lane)
            # else: superseded by another attempt; the delivery is theirs now
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("judgment %s failed", job.generation_id)
            if attempt is not None:
                await self._retry_or_fail(job, attempt, repr(exc))
        finally:
            self._attempts.pop((job.lane, job.message_id), None)

    async def _generate(
        self, gid: str, job: ClaimedJob, attempt: int, request: GenerationRequest
    ) -> None:
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
                self._deltas.push(gid, attempt, text)
            elif isinstance(event, Finished):
                finished = event
        await self._deltas.flush()
        self._deltas.forget(gid, attempt)
        if finished is None:
            raise RuntimeError("engine ended without a Finished event")
        end = time.monotonic()
        text = "".join(parts)
        ttft = (first - start) * 1000 if first is not None else None
        saved = await with_db_retry(lambda: self._save(gid, attempt, text, finished, ttft,
                                                        (end - start) * 1000))
        if not saved:
            # Another attempt took over while this one stalled: its answer is the one the
            # page shows. Leave the job to that worker (no ack: the delivery is theirs now).
            log.warning("generation %s: attempt %d is no longer current; answer dropped",
                        gid, attempt)
            return
        self._recent.append((end, finished.completion_tokens, ttft))
        record_generation(self.model, ttft, finished.completion_tokens, "done")
        # Saved first, then told: a page that sees "done" can reload and find the answer.
        # The answer is final from here on; trouble telling anyone never re-runs it (the
        # relay also finds it in the database, and an unacked job is acked on redelivery).
        try:
            await self.queue.publish(
                gid, {"type": "done", "finish_reason": finished.finish_reason,
                      "completion_tokens": finished.completion_tokens, "attempt": attempt}
            )
            await self.queue.finish_stream(gid)
            await self._ack(job)
        except Exception:
            log.exception("generation %s saved, but announcing it failed", gid)
        if self.answer_gate is not None and text:
            try:
                await self._screen_answer(gid, text)
            except Exception:  # moderation trouble must never lose an answer
                log.exception("answer moderation failed for %s", gid)

    async def _save(
        self, gid: str, attempt: int, text: str, finished: Finished, ttft: float | None,
        latency_ms: float,
    ) -> bool:
        async with self.sessionmaker() as session:
            return await job_store.save_answer(
                session, gid, attempt, text=text, prompt_tokens=finished.prompt_tokens,
                completion_tokens=finished.completion_tokens,
                finish_reason=finished.finish_reason, ttft_ms=ttft, latency_ms=latency_ms,
            )

    async def _screen_answer(self, gid: str, text: str) -> None:
        """Answers pass the same gate as prompts; anything not allowed flags the battle."""
        result = await self.answer_gate.check_text(text)  # type: ignore[union-attr]
        async with self.sessionmaker() as session:
            row = (
                await session.execute(
                    select(Turn.battle_id, Turn.index, Generation.side)
                    .join(Generation, Generation.turn_id == Turn.id)
                    .where(Generation.id == uuid.UUID(gid))
                )
            ).one()
            await record_screening(
                session, row.battle_id, {f"answer_{row.index}_{row.side}": result.to_json()},
                review=result.decision != "allow",
            )
            await session.commit()

    async def _retry_or_fail(
        self, job: ClaimedJob, attempt: int, reason: str, base: int = 0
    ) -> None:
        if attempt - base >= self.max_attempts:
            await self._fail(job, attempt, reason)
            return
        async with self.sessionmaker() as session:
            if await STORES[job.kind].requeue(session, job.generation_id, attempt,
                                              reason) is None:
                return  # finished or taken over by another attempt: not ours to touch
        await self._reenqueue(job)

    async def _hand_back(self, job: ClaimedJob, attempt: int, reason: str, outcome: str) -> None:
        """Release a job at once (graceful stop) instead of letting its lease run out."""
        async with self.sessionmaker() as session:
            if await STORES[job.kind].requeue(session, job.generation_id, attempt, reason,
                                              outcome=outcome) is None:
                return
        await self._reenqueue(job)

    async def _reenqueue(self, job: ClaimedJob) -> None:
        # A fresh job for the next attempt; the old delivery is done with. Should Redis
        # refuse, the row is queued in the database and the sweeper enqueues it.
        await self.queue.enqueue(self.model, job.generation_id, lane=job.lane, kind=job.kind)
        await self.queue.ack(self.model, job.message_id, lane=job.lane)

    async def _fail(self, job: ClaimedJob, attempt: int, reason: str) -> None:
        if job.kind == "generation":
            # A first-turn failure may go to another model instead (the battle rules say).
            async with self.sessionmaker() as session:
                redrawn = await job_store.fail_or_redraw(session, self.queue,
                                                         job.generation_id, attempt, reason)
            if redrawn is not None:
                await announce(self.queue, redrawn)
                await self.queue.ack(self.model, job.message_id, lane=job.lane)
                return
        async with self.sessionmaker() as session:
            if not await STORES[job.kind].mark_failed(session, job.generation_id, attempt,
                                                      reason):
                return
        record_generation(self.model, None, 0, "failed")
        if job.kind == "generation":
            await self.queue.publish(job.generation_id, {"type": "error", "attempt": attempt})
            await self.queue.finish_stream(job.generation_id)
        await self.queue.dead_letter(self.model, job.generation_id, reason)
        await self.queue.ack(self.model, job.message_id, lane=job.lane)


async def with_db_retry(call: Any, *, attempts: int = 30, delay_s: float = 1.0) -> Any:
    """Retry a database call while the database is unreachable (a restart, a failover): an
    answer that took seconds of GPU time is worth waiting for. Other errors raise at once."""
    for i in range(attempts):
        try:
            return await call()
        except Exception as exc:
            if not is_db_outage(exc) or i == attempts - 1:
                raise
            log.warning("database unreachable (%s); retrying in %.1fs", type(exc).__name__,
                        delay_s)
            await asyncio.sleep(delay_s)
    raise AssertionError("unreachable")
