"""Types shared by both queue adapters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

# Two lanes per model: a visitor's battle is "live"; judge runs and bench answers are
# "batch". A worker takes batch jobs only when no live job waits (workers/worker.py).
LANES = ("live", "batch")


@dataclass(frozen=True)
class ClaimedJob:
    """A job handed to one worker; it stays pending until acked or reclaimed after its lease."""

    model: str
    message_id: str
    generation_id: str  # the row the job is about: a generation, or a judgment (kind)
    reclaimed: bool = False
    kind: str = "generation"
    lane: str = "live"


@dataclass(frozen=True)
class QueueEvent:
    """One event of a generation's stream. `id` orders events and is the resume cursor."""

    generation_id: str
    id: str
    data: dict[str, Any]


@dataclass(frozen=True)
class WorkerInfo:
    worker_id: str
    model: str
    in_flight: int = 0
    concurrency: int = 0
    tokens_per_s: float = 0.0
    ttft_ms: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def stream_id_key(stream_id: str) -> tuple[int, int]:
    """Order stream ids like Redis does ("ms-seq")."""
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


class StreamReader(Protocol):
    """One long-lived reader of many generation streams (the web process's relay holds
    one). A `read` may block; `wake` makes a blocked read return at once, so that a stream
    added meanwhile is read without waiting for the block to time out. Its connections
    are its own: their number does not grow with the clients it serves."""

    async def read(self, cursors: dict[str, str], block_ms: int) -> list[QueueEvent]: ...

    async def read_now(self, cursors: dict[str, str]) -> list[QueueEvent]:
        """A non-blocking read that does not disturb a blocked `read`."""
        ...

    async def wake(self) -> None: ...

    async def close(self) -> None: ...


class JobQueue(Protocol):
    # Jobs.
    async def enqueue(
        self, model: str, generation_id: str, *, lane: str = "live", kind: str = "generation"
    ) -> str: ...

    async def claim(
        self, model: str, consumer: str, count: int, block_ms: int, *, lane: str = "live"
    ) -> list[ClaimedJob]: ...

    async def extend(
        self, model: str, consumer: str, message_ids: list[str], *, lane: str = "live"
    ) -> list[str]:
        """Renew the leases of the jobs `consumer` still holds; returns the ids it no longer
        holds (another worker reclaimed them, or the queue lost them)."""
        ...

    async def ack(self, model: str, message_id: str, *, lane: str = "live") -> None: ...

    async def dead_letter(self, model: str, generation_id: str, reason: str) -> None: ...

    async def depth(self, model: str, *, lane: str = "live") -> int: ...

    async def held(self, model: str, *, lane: str = "live") -> set[str]:
        """Generation ids of every job the queue holds for `model`, waiting or in flight:
        what the sweeper compares with the database to find work the queue lost."""
        ...

    async def try_lock(self, name: str, ttl_ms: int) -> bool:
        """A best-effort lock that expires by itself (one sweeper at a time per model)."""
        ...

    # Generation event streams.
    async def publish(self, generation_id: str, data: dict[str, Any]) -> str: ...

    async def publish_many(self, events: list[tuple[str, dict[str, Any]]]) -> None: ...

    async def finish_stream(self, generation_id: str) -> None: ...

    async def read(self, cursors: dict[str, str], block_ms: int) -> list[QueueEvent]: ...

    def stream_reader(self) -> StreamReader:
        """A reader of its own (Redis: its own connection) for one process's relay."""
        ...

    # Worker liveness.
    async def heartbeat(self, info: WorkerInfo, ttl_s: float) -> None: ...

    async def remove_worker(self, model: str, worker_id: str) -> None: ...

    async def live_workers(self, model: str) -> list[WorkerInfo]: ...

    async def close(self) -> None: ...
