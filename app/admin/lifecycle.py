"""Admin side of the model lifecycle: every model's state (testing ones too, which the
public board hides) and the operator's retire / reinstate switch, audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.audit import record
from app.admin.errors import NotFound
from app.arena.lifecycle import LifecycleRules, State, draw_weight
from app.db.models import ModelEntry, utcnow

Action = Literal["retire", "reinstate"]


@dataclass(frozen=True)
class LifecycleRow:
    name: str
    provider: str | None
    votes: int  # counted votes at the latest leaderboard run
    state: State
    retired_at: datetime | None
    weight: float  # the operator's sampling weight
    draw_weight: float  # what a battle draws with now (0 retired, boosted while testing)


async def lifecycle_rows(session: AsyncSession, rules: LifecycleRules) -> list[LifecycleRow]:
    """Answer models (judges are never drawn nor ranked), by name."""
    rows = (await session.scalars(
        select(ModelEntry).where(ModelEntry.role == "answer").order_by(ModelEntry.name)
    )).all()
    return [LifecycleRow(
        name=m.name, provider=m.provider, votes=m.ranked_votes or 0,
        state=rules.state(m.ranked_votes or 0, retired=m.retired_at is not None),
        retired_at=m.retired_at, weight=m.weight, draw_weight=draw_weight(m, rules),
    ) for m in rows]


async def set_retired(session: AsyncSession, name: str, actor: str,
                      action: Action) -> dict[str, Any]:
    """Retire (never drawn again, marked on the board) or reinstate a model, under a row
    lock; a change writes one audit entry (none when it already was so)."""
    if action not in ("retire", "reinstate"):
        raise ValueError("action must be 'retire' or 'reinstate'")
    m = await session.get(ModelEntry, name, with_for_update=True)
    if m is None or m.role != "answer":
        raise NotFound("no such model")
    before = {"retired_at": m.retired_at.isoformat() if m.retired_at else None}
    if action == "retire" and m.retired_at is None:
        m.retired_at = utcnow()
    elif action == "reinstate":
        m.retired_at = None
    after = {"retired_at": m.retired_at.isoformat() if m.retired_at else None}
    if after != before:
        record(session, actor, f"model.{action}", f"model:{name}", before, after)
    await session.commit()
    return after
