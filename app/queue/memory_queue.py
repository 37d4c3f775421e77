"""In-process adapter for the embedded default: same semantics as Redis, one process only."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from app.queue.base import LANES, ClaimedJob, QueueEvent, WorkerInfo, stream_id_key


@dataclass
class _Pending:
    generation_id: str
    consumer: str
    since: float
    kind: str = "generation"


@dataclass
class _JobStream:
    waiting: deque[tuple[str, str, str]] = field(default_factory=deque)  # id, job, kind
    pending: dict[str, _Pending] = field(default_factory=dict)


class MemoryQueue:
    def __init__(self, *, lease_ms: int = 15_000, **_ignored: Any) -> None:
        self.lease_ms = lease_ms
        self._seq = 0
        self._jobs: dict[str, _JobStream] = {}
        self._events: dict[str, list[QueueEvent]] = {}
        self._workers: dict[tuple[str, str], tuple[WorkerInfo, float]] = {}
        self._changed = asyncio.Event()
        self._dead: list[tuple[str, str, str]] = []
        self._locks: dict[str, float] = {}

    def _next_id(self) -> str:
        self._seq += 1
        return f"{int(time.time() * 1000)}-{self._seq}"

    async def _notify(self) -> None:
        # Wake every waiter by setting the current event and starting a fresh one; there is
        # no await between a reader's check and its wait, so no wake-up is lost.
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def _wait(self, block_ms: int) -> None:
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), block_ms / 1000)

    def _stream(self, model: str, lane: str) -> _JobStream:
        if lane not in LANES:
            raise ValueError(f"unknown lane {lane!r}")
        return self._jobs.setdefault(f"{lane}:{model}", _JobStream())

    async def enqueue(
        self, model: str, generation_id: str, *, lane: str = "live", kind: str = "generation"
    ) -> str:
        message_id = self._next_id()
        self._stream(model, lane).waiting.append((message_id, generation_id, kind))
        await self._notify()
        return message_id

    def _take(self, model: str, consumer: str, count: int, lane: str) -> list[ClaimedJob]:
        stream = self._stream(model, lane)
        now = time.monotonic()
        jobs: list[ClaimedJob] = []
        for message_id, p in stream.pending.items():
            if len(jobs) >= count:
                break
            if (now - p.since) * 1000 >= self.lease_ms:
                p.consumer, p.since = consumer, now
                jobs.append(ClaimedJob(model, message_id, p.generation_id, True, p.kind, lane))
        while stream.waiting and len(jobs) < count:
            message_id, generation_id, kind = stream.waiting.popleft()
            stream.pending[message_id] = _Pending(generation_id, consumer, now, kind)
            jobs.append(ClaimedJob(model, message_id, generation_id, False, kind, lane))
        return jobs

    async def claim(
        self, model: str, consumer: str, count: int, block_ms: int, *, lane: str = "live"
    ) -> list[ClaimedJob]:
        jobs = self._take(model, consumer, count, lane)
        if not jobs and block_ms:
            await self._wait(block_ms)
            jobs = self._take(model, consumer, count, lane)
        return jobs

    async def extend(
        self, model: str, consumer: str, message_ids: list[str], *, lane: str = "live"
    ) -> list[str]:
        stream = self._stream(model, lane)
        now = time.monotonic()
        lost = []
        for message_id in message_ids:
            pending = stream.pending.get(message_id)
            if pending is None or pending.consumer != consumer:
                lost.append(message_id)
            else:
                pending.since = now
        return lost

    async def ack(self, model: str, message_id: str, *, lane: str = "live") -> None:
        self._stream(model, lane).pending.pop(message_id, None)

    async def dead_letter(self, model: str, generation_id: str, reason: str) -> None:
        self._dead.append((model, generation_id, reason))

    async def depth(self, model: str, *, lane: str = "live") -> int:
        stream = self._stream(model, lane)
        return len(stream.waiting) + len(stream.pending)

    async def held(self, model: str, *, lane: str = "live") -> set[str]:
        stream = self._stream(model, lane)
        return {g for _, g, _ in stream.waiting} | {
            p.generation_id for p in stream.pending.values()}

    async def try_lock(self, name: str, ttl_ms: int) -> bool:
        now = time.monotonic()
        if self._locks.get(name, 0.0) > now:
            return False
        self._locks[name] = now + ttl_ms / 1000
        return True

    async def publish(self, generation_id: str, data: dict[str, Any]) -> str:
        event = QueueEvent(generation_id, self._next_id(), data)
        self._events.setdefault(generation_id, []).append(event)
        await self._notify()
        return event.id

    async def publish_many(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        for generation_id, data in events:
            event = QueueEvent(generation_id, self._next_id(), data)
            self._events.setdefault(generation_id, []).append(event)
        await self._notify()

    async def finish_stream(self, generation_id: str) -> None:
        """Streams are dropped after an hour so a long-running demo does not grow forever."""
        loop = asyncio.get_running_loop()
        loop.call_later(3600, self._events.pop, generation_id, None)

    def _collect(self, cursors: dict[str, str]) -> list[QueueEvent]:
        out: list[QueueEvent] = []
        for generation_id, cursor in cursors.items():
            events = self._events.get(generation_id)
            if events:  # ids grow along a stream: find the first one after the cursor
                start = bisect.bisect_right(events, stream_id_key(cursor or "0-0"),
                                            key=lambda e: stream_id_key(e.id))
                out.extend(events[start:])
        return out

    async def read(self, cursors: dict[str, str], block_ms: int) -> list[QueueEvent]:
        """Like XREAD BLOCK: returns as soon as one of *these* streams has news, or empty
        after `block_ms` (a wake-up for another stream is not an answer)."""
        events = self._collect(cursors)
        if events or not block_ms:
            return events
        loop = asyncio.get_running_loop()
        deadline = loop.time() + block_ms / 1000
        while not events:
            left = deadline - loop.time()
            if left <= 0:
                break
            await self._wait(int(left * 1000) or 1)
            events = self._collect(cursors)
        return events

    def stream_reader(self) -> MemoryStreamReader:
        return MemoryStreamReader(self)

    async def heartbeat(self, info: WorkerInfo, ttl_s: float) -> None:
        self._workers[(info.model, info.worker_id)] = (info, time.monotonic() + ttl_s)

    async def remove_worker(self, model: str, worker_id: str) -> None:
        self._workers.pop((model, worker_id), None)

    async def live_workers(self, model: str) -> list[WorkerInfo]:
        now = time.monotonic()
        return [i for (m, _), (i, exp) in self._workers.items() if m == model and exp > now]

    async def close(self) -> None:
        return None


class MemoryStreamReader:
    """The relay's reader on the in-process queue: the same shape as Redis's (a blocking
    read over many streams that a wake ends at once)."""

    def __init__(self, queue: MemoryQueue) -> None:
        self.queue = queue
        self._woken = False

    async def read(self, cursors: dict[str, str], block_ms: int) -> list[QueueEvent]:
        events = self.queue._collect(cursors)
        if events or not block_ms:
            return events
        loop = asyncio.get_running_loop()
        deadline = loop.time() + block_ms / 1000
        while not events and not self._woken:
            left = deadline - loop.time()
            if left <= 0:
                break
            await self.queue._wait(int(left * 1000) or 1)
            events = self.queue._collect(cursors)
        self._woken = False
        return events

    async def read_now(self, cursors: dict[str, str]) -> list[QueueEvent]:
        return self.queue._collect(cursors)

    async def wake(self) -> None:
        self._woken = True
        await self.queue._notify()

    async def close(self) -> None:
        return None
