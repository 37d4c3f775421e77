"""GET /metrics: the web process's Prometheus metrics, with the queue depth of every
enabled model read at scrape time (a scrape every few seconds is a handful of Redis
calls; with Redis away the depth is left out rather than failing the scrape)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.arena.battles import enabled_models
from app.observability.metrics import QUEUE_DEPTH, RELAY_STREAMS
from app.queue.base import LANES
from app.web.deps import StateDep

router = APIRouter()
log = logging.getLogger("arena.metrics")


@router.get("/metrics", include_in_schema=False)
async def metrics(state: StateDep) -> Response:
    RELAY_STREAMS.set(state.relay.streams)
    try:
        async with state.sessionmaker() as session:
            names = [m.name for m in await enabled_models(session, role=None)]
        for name in names:
            for lane in LANES:
                QUEUE_DEPTH.labels(name, lane).set(await state.queue.depth(name, lane=lane))
    except Exception as exc:  # an outage must not hide the other metrics
        log.warning("queue depth not available for /metrics: %r", exc)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
