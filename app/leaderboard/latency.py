"""Latency per model from stored generations: median time to first token and median
decode speed (tokens/s after the first token, as the battle page shows it), for the
board's latency columns and the rating-versus-latency plot. Read as four small columns
in chunks (no texts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.arena.views import decode_speed
from app.db.models import Generation

CHUNK = 50_000


async def model_latency(session: AsyncSession, *, cutoff: datetime | None = None,
                        models: set[str] | None = None) -> dict[str, dict[str, Any]]:
    """``{model: {"ttft_ms": median, "tokens_per_s": median, "n": generations}}`` over
    finished generations that recorded a time to first token (created before ``cutoff``)."""
    query = (select(Generation.model, Generation.ttft_ms, Generation.latency_ms,
                    Generation.completion_tokens)
             .where(Generation.status == "done", Generation.ttft_ms.is_not(None))
             .execution_options(yield_per=CHUNK))
    if cutoff is not None:
        query = query.where(Generation.created_at < cutoff)
    if models is not None:
        query = query.where(Generation.model.in_(sorted(models)))
    ttft: dict[str, list[float]] = {}
    speed: dict[str, list[float]] = {}
    connection = await session.connection()  # Core rows: millions of them at scale
    result = await connection.stream(query)
    async for part in result.partitions(CHUNK):
        for model, t, total, tokens in part:
            ttft.setdefault(model, []).append(float(t))
            rate = decode_speed(tokens, total, t)
            if rate is not None:
                speed.setdefault(model, []).append(rate)
    out = {}
    for model in sorted(ttft):
        rates = speed.get(model)
        out[model] = {"ttft_ms": round(float(np.median(ttft[model])), 1),
                      "tokens_per_s": round(float(np.median(rates)), 1) if rates else None,
                      "n": len(ttft[model])}
    return out


LATENCY_KINDS = ("default", "style", "elo")


def with_latency(run: Any, latency: dict[str, dict[str, Any]]) -> Any:
    """The run with ``payload["latency"]`` on its overall boards (the shown models only).
    Latency is a property of the model, not of a slice, so slices do not repeat it."""
    if not latency:
        return run
    for board in run.boards:
        if board.slice == "overall" and board.kind in LATENCY_KINDS:
            board.payload["latency"] = {m: latency[m] for m in board.payload["models"]
                                        if m in latency}
    return run
