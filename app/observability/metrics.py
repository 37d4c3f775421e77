"""The arena's Prometheus metrics, defined once for every process that exports them.

Each process exports only what it measures (the web process: SSE connections, the relay;
a worker: its jobs and tokens); both export the depth of the queues they know, which is
what the workers' autoscaling follows (deploy/k8s/README.md)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

QUEUE_DEPTH = Gauge(
    "arena_queue_depth", "Jobs waiting or in flight in a model's queue", ["model", "lane"])

# Web process.
SSE_CONNECTIONS = Gauge("arena_sse_connections", "Open SSE answer streams of this process")
RELAY_STREAMS = Gauge("arena_relay_streams", "Generation streams this process's reader follows")
RELAY_LAG = Histogram(
    "arena_relay_lag_seconds",
    "From a worker's publish (the stream entry's time) to this process's reader",
    buckets=LATENCY_BUCKETS)
RELAY_DROPPED = Counter(
    "arena_relay_lagging_dropped_total",
    "SSE clients dropped for falling too far behind (each is told to reconnect)")

# Workers.
JOBS_IN_FLIGHT = Gauge("arena_worker_jobs_in_flight", "Jobs this worker runs now", ["model"])
TTFT = Histogram(
    "arena_generation_ttft_seconds", "Time to the first token of a generation (worker side)",
    ["model"], buckets=LATENCY_BUCKETS)
TOKENS = Counter("arena_generated_tokens_total", "Completion tokens generated", ["model"])
GENERATIONS = Counter(
    "arena_generations_total", "Generations finished, by outcome", ["model", "outcome"])
