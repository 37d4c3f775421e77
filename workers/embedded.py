"""Workers inside the web process (the embedded default: `arena demo`,
`arena serve --embedded-workers`).

`start_embedded_workers` is a background service for `create_app(settings, background=...)`:
the entry point passes it in, so the web package never imports the workers package.
"""

from __future__ import annotations

import asyncio
import contextlib

from app.arena.battles import enabled_models
from app.web.state import ArenaState
from workers.engines.base import EngineConfig
from workers.engines.factory import make_engine as make_model_engine
from workers.worker import Worker, settings_options


async def start_embedded_workers(state: ArenaState) -> list[asyncio.Task[None]]:
    """One worker per enabled model, on the web process's queue, database and blob store.

    If an engine fails to load, the workers already started are stopped before the error
    propagates (the web process then does not start half-served).
    """
    async with state.sessionmaker() as session:
        models = await enabled_models(session, role=None)
    tasks: list[asyncio.Task[None]] = []
    try:
        for m in models:
            engine = make_model_engine(
                EngineConfig(name=m.name, backend=m.backend, path=m.path, options=m.options)
            )
            worker = Worker(
                model=m.name, engine=engine, queue=state.queue,
                sessionmaker=state.sessionmaker, blobs=state.blobs, concurrency=m.concurrency,
                **settings_options(state.settings),
                answer_gate=state.gate if state.settings.moderate_answers else None,
            )
            # Engines load one after another: concurrent first imports of torch/transformers
            # in several threads can deadlock.
            try:
                await engine.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await engine.close()
                raise
            tasks.append(
                asyncio.create_task(worker.run(start_engine=False), name=f"worker-{m.name}")
            )
    except BaseException:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        raise
    return tasks
