"""The periodic category pass: label every new battle with the configured category set.

Each tick applies the runs that finished (their battles switch to the new labels) and
starts a pass over battles without labels under the current version (app/judges/categories:
what a pass and a version are). The judge and the interval are registry configuration
(`options.categories` on the judge's entry in models.yaml), re-read every tick; with no
model configured the service is off.

It runs as a background service of the embedded demo (`start_categorizer`, next to the
embedded workers) and in the scheduler process of a deployment (`run_categorizer_process`,
which needs Redis to reach the workers). A queue lock keeps several processes from passing
over the same battles at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.config import Settings
from app.judges.categories import (
    AppliedRun,
    CategorizerConfig,
    CategoryConfigError,
    PassStarted,
    apply_finished,
    configured_categorizer,
    set_search_dirs,
    start_pass,
)
from app.judges.runs import RunError
from app.judges.templates import TemplateError
from app.queue import JobQueue, make_queue
from app.web.state import ArenaState

log = logging.getLogger("arena.categorizer")

LOCK = "categorizer"
IDLE_RECHECK_S = 60.0  # how often a service without a configured judge looks again
FIRST_TICK_S = 5.0  # let the workers started beside it send their first heartbeat


@dataclass
class TickResult:
    config: CategorizerConfig | None
    applied: list[AppliedRun] = field(default_factory=list)
    started: PassStarted | None = None
    error: str | None = None  # why no pass started (no live worker, a bad set file …)


async def categorize_once(
    sessionmaker: async_sessionmaker, queue: JobQueue, config: CategorizerConfig | None, *,
    base_dirs: Sequence[Path] = (), created_by: str = "categorizer",
) -> TickResult:
    """Apply finished runs, then start one pass with `config` (none when it is None)."""
    result = TickResult(config)
    async with sessionmaker() as session:
        result.applied = await apply_finished(session)
        if config is None:
            return result
        try:
            cset = config.load_set(base_dirs)
            result.started = await start_pass(session, queue, cset, config.judge,
                                              limit=config.batch, created_by=created_by)
        except (RunError, CategoryConfigError, TemplateError) as exc:
            result.error = str(exc)
            log.warning("category pass not started: %s", exc)
            return result
        if result.started.run_id is not None:  # judgments adopted already finished
            result.applied += await apply_finished(session, [result.started.run_id])
    return result


async def _config(sessionmaker: async_sessionmaker) -> CategorizerConfig | None:
    async with sessionmaker() as session:
        return await configured_categorizer(session)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def run_categorizer(
    sessionmaker: async_sessionmaker, queue: JobQueue, settings: Settings, *,
    stop: asyncio.Event | None = None, first_tick_s: float = FIRST_TICK_S,
) -> None:
    """Tick every `interval_s` of the configured judge until `stop` is set."""
    stop = stop or asyncio.Event()
    base_dirs = set_search_dirs(settings.models_file)
    await _sleep(stop, first_tick_s)
    while not stop.is_set():
        wait = IDLE_RECHECK_S
        try:
            config = await _config(sessionmaker)
            if config is not None:
                wait = config.interval_s
                # One pass per interval across every process running this service.
                if await queue.try_lock(LOCK, int(max(1.0, wait - 0.5) * 1000)):
                    await categorize_once(sessionmaker, queue, config, base_dirs=base_dirs)
            else:
                async with sessionmaker() as session:  # runs started before it was switched off
                    await apply_finished(session)
        except CategoryConfigError as exc:
            log.error("categorizer configuration: %s", exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("category pass failed; retrying in %.0f s", wait)
        await _sleep(stop, wait)


async def start_categorizer(state: ArenaState) -> list[asyncio.Task[None]]:
    """Background service for `create_app(settings, background=...)`: the periodic pass on
    the web process's queue (the embedded demo). Off (no task) with no judge configured."""
    try:
        config = await _config(state.sessionmaker)
    except CategoryConfigError as exc:
        log.error("categorizer off: %s", exc)
        return []
    if config is None:
        log.info("categorizer off: no registry model sets options.categories")
        return []
    log.info("categorizer on: judge %s, set %s, every %.0f s", config.judge, config.set,
             config.interval_s)
    return [asyncio.create_task(
        run_categorizer(state.sessionmaker, state.queue, state.settings),
        name="categorizer")]


async def run_categorizer_process(
    settings: Settings, sessionmaker: async_sessionmaker, stop: asyncio.Event
) -> None:
    """The periodic pass in a process of its own (the scheduler): it reaches the workers
    through Redis, so without ARENA_REDIS_URL it is off."""
    if not settings.redis_url:
        log.info("categorizer off in this process: no ARENA_REDIS_URL to reach the workers "
                 "(the embedded demo runs it inside the web process)")
        return
    queue = make_queue(settings.redis_url, prefix=settings.redis_prefix,
                       lease_ms=settings.lease_ms, stream_maxlen=settings.stream_maxlen,
                       stream_ttl_s=settings.stream_ttl_s)
    try:
        await run_categorizer(sessionmaker, queue, settings, stop=stop, first_tick_s=0)
    finally:
        await queue.close()
