"""One reader per web process for every generation stream its SSE connections follow.

Every SSE connection used to run its own blocking XREAD on its own pooled Redis
connection, so Redis connections grew with visitors and a gone client was noticed only
between reads. Here one task reads all the streams this process relays with one blocking
read (the queue's `StreamReader`: on Redis, one connection of its own) and hands each batch
to the connections that follow those streams, through bounded in-memory buffers:

- adding a stream wakes the blocked read at once (no wait for its timeout); removing one
  needs nothing (a stream nobody follows is dropped from the next read);
- a connection joining a stream the reader already follows catches up from its own
  cursor with one non-blocking read; every subscription drops what it has already given
  out, so each event reaches each connection once and in order, whatever the timing;
- the reader never waits for a connection: a subscription whose buffer overflows (its
  client reads too slowly) is dropped and marked `lagging`; its connection tells the
  client to reconnect, and the client resumes from its last event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from app.queue import JobQueue, QueueEvent
from app.queue.base import StreamReader, stream_id_key

log = logging.getLogger("arena.relay")


class Subscription:
    """What one SSE connection receives: the new events of its streams, each once."""

    def __init__(self, relay: StreamRelay, cursors: dict[str, str], limit: int) -> None:
        self.relay = relay
        self.cursors = dict(cursors)  # generation id -> the last event id given out
        self.limit = limit
        self.lagging = False  # dropped for falling `limit` events behind
        self._pending: list[QueueEvent] = []
        self._ready = asyncio.Event()
        self._error: BaseException | None = None

    def offer(self, events: list[QueueEvent]) -> bool:
        """Called by the reader; never blocks. False when this subscription overflowed."""
        if self.lagging:
            return False
        # Behind = more than `limit` events not yet taken: one read's batch alone (up to
        # the reader's count per stream) never is, so a client that keeps up is never dropped.
        if self._pending and len(self._pending) + len(events) > self.limit:
            self.lagging = True
            self._pending.clear()
            self._ready.set()
            return False
        self._pending.extend(events)
        self._ready.set()
        return True

    def fail(self, exc: BaseException) -> None:
        self._error = exc
        self._ready.set()

    def _catch_up(self, events: list[QueueEvent]) -> None:
        # Older than anything the reader delivered since this subscription joined.
        self._pending[:0] = events
        if events:
            self._ready.set()

    async def next(self, timeout_s: float) -> list[QueueEvent]:
        """The new events, in stream order, once there is at least one; [] after
        `timeout_s` without news or once `lagging`. Raises the reader's error (an outage)
        once, and keeps the subscription: the reader tries again by itself."""
        if not self._pending and not self.lagging and self._error is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):  # no task per wait (wait_for's)
                    await self._ready.wait()
        self._ready.clear()
        if self._error is not None:
            exc, self._error = self._error, None
            raise exc
        taken, self._pending = self._pending, []
        fresh: list[QueueEvent] = []
        for event in taken:
            seen = self.cursors.get(event.generation_id)
            if seen is not None and stream_id_key(event.id) <= stream_id_key(seen):
                continue  # given out already (a catch-up overlapped the reader)
            self.cursors[event.generation_id] = event.id
            fresh.append(event)
        return fresh

    def close(self) -> None:
        self.relay._remove(self)


class StreamRelay:
    """The process's single reader (started with the first subscription)."""

    def __init__(
        self,
        queue: JobQueue,
        *,
        block_ms: int = 5_000,
        buffer_events: int = 4_096,
        on_lag: Callable[[float], None] | None = None,
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        self.queue = queue
        self.block_ms = block_ms
        self.buffer_events = buffer_events
        self.on_lag = on_lag  # seconds from the worker's publish to this reader, per batch
        self.on_drop = on_drop  # a subscription dropped for falling behind
        self._reader: StreamReader | None = None
        self._subs: dict[str, set[Subscription]] = {}
        self._positions: dict[str, str] = {}  # generation id -> the reader's cursor
        self._task: asyncio.Task[None] | None = None
        self._wanted = asyncio.Event()
        self.dropped_lagging = 0

    @property
    def subscriptions(self) -> int:
        return len({id(s) for subs in self._subs.values() for s in subs})

    @property
    def streams(self) -> int:
        return len(self._positions)

    async def subscribe(self, cursors: dict[str, str]) -> Subscription:
        """Follow these streams from these cursors ("0-0": from the start)."""
        sub = Subscription(self, cursors, self.buffer_events)
        new, behind = [], {}
        for gid, cursor in cursors.items():
            position = self._positions.get(gid)
            if position is None:
                self._positions[gid] = cursor or "0-0"
                new.append(gid)
            elif stream_id_key(cursor or "0-0") < stream_id_key(position):
                behind[gid] = cursor or "0-0"
            self._subs.setdefault(gid, set()).add(sub)
        self._start()
        try:
            if new:
                self._wanted.set()
                await self._reader_wake()
            if behind:  # the reader is past this cursor: what lies between, read once
                sub._catch_up(await self.read_now(behind))
        except BaseException:
            self._remove(sub)
            raise
        return sub

    async def read_now(self, cursors: dict[str, str]) -> list[QueueEvent]:
        """A non-blocking read on the reader's own connections (not the shared pool)."""
        self._start()
        assert self._reader is not None
        return await self._reader.read_now(cursors)

    async def _reader_wake(self) -> None:
        assert self._reader is not None
        try:
            await self._reader.wake()
        except Exception as exc:  # the read then ends by its own timeout
            log.warning("could not wake the relay's reader: %r", exc)

    def _remove(self, sub: Subscription) -> None:
        for gid in sub.cursors:
            subs = self._subs.get(gid)
            if subs is None:
                continue
            subs.discard(sub)
            if not subs:
                del self._subs[gid]
                self._positions.pop(gid, None)

    def _start(self) -> None:
        if self._reader is None:
            self._reader = self.queue.stream_reader()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="stream-relay")

    async def _run(self) -> None:
        assert self._reader is not None
        while True:
            if not self._positions:
                self._wanted.clear()
                await self._wanted.wait()
                continue
            cursors = dict(self._positions)
            try:
                events = await self._reader.read(cursors, self.block_ms)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: tell the connections, try again
                log.warning("relay read failed: %r", exc)
                for sub in {s for subs in self._subs.values() for s in subs}:
                    sub.fail(exc)
                await asyncio.sleep(0.5)
                continue
            self._fan_out(cursors, events)

    def _fan_out(self, cursors: dict[str, str], events: list[QueueEvent]) -> None:
        now = time.time()
        for gid, batch in by_stream(events).items():
            if self.on_lag is not None:  # the oldest of the batch: its publish time (ms id)
                self.on_lag(max(0.0, now - stream_id_key(batch[0].id)[0] / 1000))
            # A stream removed and added again during the read keeps its new cursor.
            if self._positions.get(gid) == cursors.get(gid):
                self._positions[gid] = batch[-1].id
            for sub in list(self._subs.get(gid, ())):
                if not sub.offer(batch):
                    self.dropped_lagging += 1
                    self._remove(sub)
                    if self.on_drop is not None:
                        self.on_drop()

    async def close(self) -> None:
        if self._task is not None:
            # A cancel that lands while redis-py sets a blocking read up can be absorbed
            # there: cancel until the task is really gone.
            while not self._task.done():
                self._task.cancel()
                await asyncio.wait({self._task}, timeout=0.5)
            with contextlib.suppress(BaseException):
                self._task.result()
        if self._reader is not None:
            await self._reader.close()



def by_stream(events: list[QueueEvent]) -> dict[str, list[QueueEvent]]:
    """Group a batch by stream, keeping each stream's order."""
    out: dict[str, list[QueueEvent]] = {}
    for event in events:
        out.setdefault(event.generation_id, []).append(event)
    return out
