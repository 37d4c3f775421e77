"""Start one worker process for one model (the deployment path, with Redis)."""

from __future__ import annotations

import asyncio
import logging
import signal

from app.config import Settings
from app.db.models import ModelEntry
from app.db.session import make_engine, make_sessionmaker
from app.queue import make_queue
from app.storage.blobs import LocalBlobStore
from workers.engines.base import Engine, EngineConfig
from workers.engines.factory import make_engine as make_model_engine
from workers.worker import Worker, settings_options

log = logging.getLogger("arena.worker")


def _answer_gate(settings: Settings):  # type: ignore[no-untyped-def]
    """The moderation gate for answers, if this environment has its packages (a GPU
    worker's image may not; then the web process's checks of prompts still apply)."""
    if not (settings.moderation_enabled and settings.moderate_answers):
        return None
    from app.moderation.from_settings import gate_available, gate_from_settings

    if not gate_available():
        log.warning("moderation packages missing: answers from this worker are not screened")
        return None
    return gate_from_settings(settings)


async def run_worker(
    settings: Settings,
    model: str,
    *,
    concurrency: int | None = None,
    worker_id: str | None = None,
    stop: asyncio.Event | None = None,
    engine: Engine | None = None,
) -> None:
    """`engine`: run this engine instead of the registry's backend (benchmarks only: the
    token source of benchmarks/token_source.py is never a registry backend)."""
    db = make_engine(settings.database_url)
    sessionmaker = make_sessionmaker(db)
    async with sessionmaker() as session:
        entry = await session.get(ModelEntry, model)
    if entry is None:
        raise SystemExit(f"model {model!r} is not in the registry (is `arena serve` synced?)")
    queue = make_queue(settings.redis_url, prefix=settings.redis_prefix, lease_ms=settings.lease_ms,
                       stream_maxlen=settings.stream_maxlen, stream_ttl_s=settings.stream_ttl_s)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker = Worker(
        model=model,
        engine=engine or make_model_engine(
            EngineConfig(name=entry.name, backend=entry.backend, path=entry.path,
                         options=entry.options)
        ),
        queue=queue,
        sessionmaker=sessionmaker,
        blobs=LocalBlobStore(settings.blobs_path),
        concurrency=concurrency or entry.concurrency,
        **settings_options(settings),
        worker_id=worker_id,
        answer_gate=_answer_gate(settings),
    )
    metrics_task = None
    if settings.worker_metrics_port:
        from workers.metrics import serve_metrics

        metrics_task = serve_metrics(settings.worker_metrics_port, worker, queue)
    try:
        await worker.run(stop)
    finally:
        if metrics_task is not None:
            metrics_task.cancel()
        await queue.close()
        await db.dispose()
