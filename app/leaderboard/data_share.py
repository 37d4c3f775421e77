"""Data-share report: how many battles and prompts each model (and each provider) has
seen. The fairness question asked of public arenas: a provider whose models see more
prompts gets more data to train on. Counted in the database (GROUP BY), not in Python.

``battles``: battles a model answered in (either side, every mode); ``prompts``: the user
turns of those battles (a follow-up is another prompt seen); ``voted``: those battles with
a vote; ``share``: its part of all model-battle appearances (two per two-sided battle).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, literal_column, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Battle, ModelEntry, Turn, Vote

UNKNOWN_PROVIDER = "(no provider set)"


async def data_share(session: AsyncSession, *, cutoff: datetime | None = None
                     ) -> dict[str, Any]:
    """``{"models": [...], "providers": [...], "battles": n}``, largest share first."""
    def sides(column: Any) -> Any:
        q = select(Battle.id.label("battle_id"), column.label("model")).where(
            column.is_not(None))
        return q if cutoff is None else q.where(Battle.created_at < cutoff)

    seen = union_all(sides(Battle.model_a), sides(Battle.model_b)).subquery()
    turns = (select(Turn.battle_id, func.count().label("n")).group_by(Turn.battle_id)
             .subquery())
    voted = func.count(Vote.battle_id)
    rows = (await session.execute(
        select(seen.c.model, func.count().label("battles"),
               func.coalesce(func.sum(turns.c.n), literal_column("0")).label("prompts"),
               voted.label("voted"))
        .select_from(seen)
        .outerjoin(turns, turns.c.battle_id == seen.c.battle_id)
        .outerjoin(Vote, Vote.battle_id == seen.c.battle_id)
        .group_by(seen.c.model)
    )).all()
    providers = dict((await session.execute(select(ModelEntry.name, ModelEntry.provider)
                                            )).all())
    total = sum(r.battles for r in rows) or 1
    models = sorted(({"model": r.model, "provider": providers.get(r.model) or UNKNOWN_PROVIDER,
                      "battles": int(r.battles), "prompts": int(r.prompts),
                      "voted": int(r.voted), "share": round(r.battles / total, 4)}
                     for r in rows), key=lambda m: (-m["battles"], m["model"]))
    by_provider: dict[str, dict[str, Any]] = {}
    for m in models:
        p = by_provider.setdefault(m["provider"], {"provider": m["provider"], "models": 0,
                                                   "battles": 0, "prompts": 0, "voted": 0})
        p["models"] += 1
        for key in ("battles", "prompts", "voted"):
            p[key] += m[key]
    provider_rows = sorted(by_provider.values(), key=lambda p: (-p["battles"], p["provider"]))
    for p in provider_rows:
        p["share"] = round(p["battles"] / total, 4)
    battles = await session.scalar(
        select(func.count()).select_from(Battle).where(
            *(() if cutoff is None else (Battle.created_at < cutoff,))))
    return {"models": models, "providers": provider_rows, "battles": int(battles or 0)}
