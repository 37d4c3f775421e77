"""What the leaderboard page's "bench" tab shows: the newest stored bench result."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.bench_tables import BenchResult


async def latest_bench_view(session: AsyncSession) -> dict[str, Any] | None:
    """The newest bench result as the page renders it (None before the first run)."""
    row = await session.scalar(
        select(BenchResult).order_by(BenchResult.created_at.desc(), BenchResult.id).limit(1))
    if row is None:
        return None
    score = row.score or {}
    return {"version": row.bench_version, "judge": row.judge, "anchor": row.anchor,
            "judge_template": row.judge_template, "created_at": row.created_at,
            "source": row.source, "rows": score.get("rows", []),
            "unparsable": score.get("unparsable", 0), "failed": score.get("failed", 0),
            "level": score.get("level", 0.95), "agreement": row.agreement}
