"""A worker's Prometheus metrics on a port of its own (ARENA_WORKER_METRICS_PORT): jobs in
flight, time to first token, tokens generated and the depth of its model's queues, which
is what an autoscaler of workers follows (deploy/k8s/README.md)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from prometheus_client import start_http_server

from app.observability.metrics import (
    GENERATIONS,
    JOBS_IN_FLIGHT,
    QUEUE_DEPTH,
    TOKENS,
    TTFT,
)
from app.queue import JobQueue
from app.queue.base import LANES

log = logging.getLogger("arena.worker.metrics")
DEPTH_INTERVAL_S = 2.0


def record_generation(model: str, ttft_ms: float | None, tokens: int, outcome: str) -> None:
    """One finished generation (cheap: a few in-memory increments)."""
    GENERATIONS.labels(model, outcome).inc()
    if tokens:
        TOKENS.labels(model).inc(tokens)
    if ttft_ms is not None:
        TTFT.labels(model).observe(ttft_ms / 1000)


async def _watch_depth(model: str, queue: JobQueue) -> None:
    while True:
        try:
            for lane in LANES:
                QUEUE_DEPTH.labels(model, lane).set(await queue.depth(model, lane=lane))
        except Exception as exc:  # Redis away: the last value stays, the worker goes on
            log.warning("queue depth not read: %r", exc)
        await asyncio.sleep(DEPTH_INTERVAL_S)


def serve_metrics(port: int, worker: Any, queue: JobQueue) -> asyncio.Task[None]:
    """Start the HTTP exporter (a thread) and the queue-depth watcher (a task)."""
    start_http_server(port)
    JOBS_IN_FLIGHT.labels(worker.model).set_function(lambda: len(worker._in_flight))
    return asyncio.create_task(_watch_depth(worker.model, queue), name="metrics-depth")
