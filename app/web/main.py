"""The FastAPI application: adapters chosen from settings, routes, error pages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from app.abuse.rate_limits import RateLimiter, RateLimitRules
from app.arena.battles import Limits
from app.arena.errors import ArenaError
from app.arena.registry import load_registry, sync_registry
from app.config import REPO_ROOT, Settings, check_secrets, get_settings
from app.db.session import make_engine, make_reader, make_sessionmaker
from app.moderation.from_settings import gate_from_settings
from app.observability.metrics import RELAY_DROPPED, RELAY_LAG
from app.queue import make_queue
from app.queue.live_cache import LiveWorkersCache
from app.storage.blobs import LocalBlobStore
from app.web import (
    admin_lifecycle_routes,
    admin_routes,
    api,
    leaderboard_routes,
    pages,
    refinement_routes,
)
from app.web import metrics as web_metrics
from app.web.apidocs import add_offline_docs
from app.web.limits import BodySizeLimitMiddleware
from app.web.outages import OUTAGE_MESSAGE, OUTAGE_TYPES, RETRY_AFTER_S, is_outage
from app.web.proxy import SchemeSessionMiddleware, TrustedProxyMiddleware
from app.web.relay import StreamRelay
from app.web.state import ArenaState

log = logging.getLogger("arena.web")


async def refuse_nul(request: Request) -> None:
    """NUL can not be stored or even compared in PostgreSQL text: a path or query that
    carries one is refused here, before any route hands it to a query (else a 500)."""
    if "\x00" in request.url.path or any(
        "\x00" in k or "\x00" in v for k, v in request.query_params.multi_items()
    ):
        raise ArenaError("The address contains invalid characters.", 422)


def build_limiter(settings: Settings) -> RateLimiter | None:
    if not settings.rate_limits_enabled:
        return None
    return RateLimiter(
        settings.redis_url or "memory://",
        RateLimitRules(
            battles=settings.battles_per_visitor,
            votes=settings.votes_per_visitor,
            ip_factor=settings.rate_ip_factor,
        ),
        key_prefix=settings.redis_prefix,
    )


def build_state(settings: Settings) -> ArenaState:
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size,
                         max_overflow=settings.db_max_overflow)
    queue = make_queue(
        settings.redis_url,
        prefix=settings.redis_prefix,
        lease_ms=settings.lease_ms,
        stream_maxlen=settings.stream_maxlen,
        stream_ttl_s=settings.stream_ttl_s,
        client_name=f"arena-web-{os.getpid()}",
    )
    if settings.live_workers_cache_s > 0:
        queue = LiveWorkersCache(queue, settings.live_workers_cache_s)  # type: ignore[assignment]
    return ArenaState(
        settings=settings,
        engine=engine,
        sessionmaker=make_sessionmaker(engine),
        reader=make_reader(engine),
        queue=queue,
        relay=StreamRelay(queue, block_ms=settings.relay_block_ms,
                          buffer_events=settings.relay_buffer_events, on_lag=RELAY_LAG.observe,
                          on_drop=RELAY_DROPPED.inc),
        blobs=LocalBlobStore(settings.blobs_path),
        ip_salt=settings.resolved_secret("ip_hash_salt"),
        limits=Limits(
            max_prompt_chars=settings.max_prompt_chars,
            max_turns=settings.max_turns,
            max_queue_depth_per_worker=settings.max_queue_depth_per_worker,
            max_generations_in_flight=settings.max_generations_in_flight,
        ),
        gate=gate_from_settings(settings),
        limiter=build_limiter(settings),
    )


BackgroundService = Callable[[ArenaState], Awaitable[list[asyncio.Task[None]]]]
"""Started in the lifespan once the registry is synced; its tasks are cancelled (and
awaited) at shutdown. The entry point composes these (e.g. the embedded workers): this
package does not know what runs beside the web routes."""


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(BaseException):
            await task


def create_app(
    settings: Settings | None = None, background: Sequence[BackgroundService] = ()
) -> FastAPI:
    settings = settings or get_settings()
    check_secrets(settings)  # before anything is generated into the data directory

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = build_state(settings)
        app.state.arena = state
        tasks: list[asyncio.Task[None]] = []
        try:  # a failed start releases what it built, like a normal shutdown
            async with state.sessionmaker() as session:
                await sync_registry(session, load_registry(settings.models_file))
            if state.gate is not None:
                await state.gate.warm_up()
            for service in background:
                tasks += await service(state)
            yield
        finally:
            await _stop(tasks)
            await state.relay.close()
            await state.queue.close()
            if state.limiter is not None:
                await state.limiter.close()
            await state.engine.dispose()

    app = FastAPI(
        title="vlm-arena",
        version="0.1.0",
        description="Anonymous side-by-side battles between vision-language models.",
        lifespan=lifespan,
        dependencies=[Depends(refuse_nul)],
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(
        SchemeSessionMiddleware,
        secure=settings.cookie_secure,
        secret_key=settings.resolved_secret("secret_key"),
        session_cookie="arena_session",
        max_age=365 * 24 * 3600,
        same_site="lax",
    )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_upload_bytes + 64 * 1024)
    # Outermost: everything inside sees the visitor's address and scheme, not the proxy's.
    app.add_middleware(TrustedProxyMiddleware, trusted=settings.trusted_proxies,
                       ip_header=settings.client_ip_header)
    add_offline_docs(app)
    app.mount("/static", StaticFiles(directory=str(Path(REPO_ROOT) / "static")), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(refinement_routes.api_router)
    app.include_router(refinement_routes.page_router)
    app.include_router(leaderboard_routes.router)
    app.include_router(admin_routes.router)
    app.include_router(admin_lifecycle_routes.router)
    app.include_router(web_metrics.router)

    def _wants_json(request: Request) -> bool:
        return request.url.path.startswith(("/api/", "/admin/api/"))

    @app.exception_handler(ArenaError)
    async def arena_error(request: Request, exc: ArenaError) -> Response:
        if _wants_json(request):
            return JSONResponse(
                {"detail": exc.message}, status_code=exc.status, headers=exc.headers
            )
        if request.headers.get("HX-Request"):
            response = pages.templates.TemplateResponse(
                request, "_error.html", {"message": exc.message}, status_code=exc.status
            )
            response.headers.update(exc.headers)
            response.headers["HX-Retarget"] = "#errors"
            response.headers["HX-Reswap"] = "innerHTML"
            return response
        return pages.templates.TemplateResponse(
            request, "error.html", {"message": exc.message}, status_code=exc.status,
            headers=exc.headers,
        )

    async def outage(request: Request, exc: Exception) -> Response:
        if not is_outage(exc):
            log.error("unhandled error on %s", request.url.path, exc_info=exc)
            return JSONResponse({"detail": "Internal server error."}, status_code=500)
        log.warning("storage unreachable on %s: %r", request.url.path, exc)
        return await arena_error(
            request, ArenaError(OUTAGE_MESSAGE, 503, {"Retry-After": str(RETRY_AFTER_S)})
        )

    for exc_type in OUTAGE_TYPES:
        app.add_exception_handler(exc_type, outage)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if _wants_json(request):
            errors = [
                {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
                for e in exc.errors()
            ]
            return JSONResponse({"detail": errors}, status_code=422)
        return await arena_error(request, ArenaError("Some fields of the form are invalid.", 422))

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict:
        return {"ok": True}

    return app


def app_factory() -> FastAPI:
    """Entry point for `uvicorn --factory app.web.main:app_factory`: the web routes only
    (`arena_cli.serving:app_factory` adds the embedded workers when settings ask for them)."""
    return create_app()


