"""A one-at-a-time gate that serves waiters by priority, then by arrival.

The transformers engine runs one generation at a time. With a first-come queue a visitor's
battle waits behind every judge call the worker already handed over; with this gate it
waits for at most the one that is running (GenerationRequest.priority: 0 live, 1 batch).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

LIVE, BATCH = 0, 1


class PriorityGate:
    def __init__(self) -> None:
        self._busy = False
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrival = itertools.count()

    async def acquire(self, priority: int) -> None:
        if not self._busy and not self._waiters:
            self._busy = True
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._arrival), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # granted just as the waiter left: pass it on
            raise

    def release(self) -> None:
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)
                return
        self._busy = False

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, f in self._waiters if not f.done())
