"""A queue whose answer to "which workers are live" is at most a second old.

Every battle asks it for each model, twice (draw the pair, then load shedding), and each
ask is a Redis round trip per model: under load that is most of a creation's Redis time,
for an answer that changes at heartbeat pace (workers renew every second, expire after
several). Everything else goes straight to the wrapped queue."""

from __future__ import annotations

import time
from typing import Any

from app.queue.base import JobQueue, WorkerInfo


class LiveWorkersCache:
    def __init__(self, queue: JobQueue, ttl_s: float = 1.0) -> None:
        self._queue = queue
        self._ttl_s = ttl_s
        self._live: dict[str, tuple[float, list[WorkerInfo]]] = {}

    async def live_workers(self, model: str) -> list[WorkerInfo]:
        now = time.monotonic()
        hit = self._live.get(model)
        if hit is not None and now - hit[0] < self._ttl_s:
            return hit[1]
        workers = await self._queue.live_workers(model)
        self._live[model] = (now, workers)
        return workers

    # Changes made through this process are seen at once.
    async def heartbeat(self, info: WorkerInfo, ttl_s: float) -> None:
        self._live.pop(info.model, None)
        await self._queue.heartbeat(info, ttl_s)

    async def remove_worker(self, model: str, worker_id: str) -> None:
        self._live.pop(model, None)
        await self._queue.remove_worker(model, worker_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)
