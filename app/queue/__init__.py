"""The job and token-stream protocol between the web process and the workers.

Two adapters implement `JobQueue`: Redis Streams (deployment, many processes) and an
in-process asyncio one (the embedded default). Both give at-least-once job delivery with
leases, and replayable per-generation event streams whose ids let a client resume.
"""

from app.queue.base import ClaimedJob, JobQueue, QueueEvent, WorkerInfo

__all__ = ["ClaimedJob", "JobQueue", "QueueEvent", "WorkerInfo", "make_queue"]


def make_queue(redis_url: str | None, *, prefix: str, **kwargs) -> JobQueue:  # type: ignore[no-untyped-def]
    if redis_url:
        from app.queue.redis_queue import RedisQueue

        return RedisQueue(redis_url, prefix=prefix, **kwargs)
    from app.queue.memory_queue import MemoryQueue

    return MemoryQueue(**kwargs)
