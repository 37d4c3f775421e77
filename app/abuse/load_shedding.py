"""Refuse new battles early when the model queues are already too deep."""

from __future__ import annotations


def should_shed(queue_depth: int, live_workers: int, max_depth_per_worker: int) -> bool:
    """True when a new battle should be turned away with "busy, try again shortly".

    Why: a job queued behind `queue_depth` others waits about queue_depth / throughput,
    and throughput grows with the number of live workers (Little's law). Past a few jobs
    per worker the wait exceeds what a visitor will sit through, so accepting more only
    produces abandoned generations that still burn GPU time, and a queue that keeps
    growing under overload. Failing fast keeps the latency of accepted battles bounded
    and tells the visitor the truth. With no live worker nothing can be served at all,
    so everything is shed rather than queued forever.

    `queue_depth` counts jobs waiting (not yet picked up) for the model(s) a battle would
    use; `max_depth_per_worker` is how many waiting jobs one worker may have behind it.
    """
    if queue_depth < 0 or live_workers < 0:
        raise ValueError("queue_depth and live_workers must be >= 0")
    if max_depth_per_worker < 1:
        raise ValueError("max_depth_per_worker must be >= 1")
    if live_workers == 0:
        return True
    return queue_depth >= live_workers * max_depth_per_worker
