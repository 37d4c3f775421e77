"""The personal board of one visitor (``/leaderboard/me``): their own votes on the models
of the public board, blended with it (``app.ranking.personal``). Computed on request for
that visitor only; nothing is stored and nobody else can ask for it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Battle, Vote
from app.leaderboard.snapshots import latest_snapshot
from app.ranking import Battles, RatingScale
from app.ranking.personal import MIN_VOTES, personal_board


async def visitor_board(session: AsyncSession, visitor_id: uuid.UUID) -> dict[str, Any]:
    """``{"votes": n, "needed": k}`` below the threshold, else the board's rows too."""
    view = await latest_snapshot(session)
    rows = (view.snapshot.payload or {}).get("rows", []) if view is not None else []
    public = {r["model"]: r["rating"] for r in rows if r["rating"] is not None}
    votes = (await session.execute(
        select(Battle.model_a, Battle.model_b, Vote.winner)
        .join(Battle, Battle.id == Vote.battle_id)
        .where(Vote.visitor_id == visitor_id, Battle.model_b.is_not(None),
               Battle.deleted_at.is_(None))
        .order_by(Vote.created_at)
    )).all()
    mine = [v for v in votes if v.model_a in public and v.model_b in public]
    if len(mine) < MIN_VOTES:
        return {"votes": len(mine), "needed": MIN_VOTES - len(mine)}
    models = tuple(sorted(public))
    battles = Battles.from_names([v.model_a for v in mine], [v.model_b for v in mine],
                                 [v.winner for v in mine], models=models)
    scale = RatingScale()
    prior = np.array([(public[m] - scale.initial) / scale.factor for m in models])
    centre = prior.mean()
    board = await asyncio.to_thread(personal_board, battles, prior - centre)
    ratings = scale.to_ratings(models, board.logits + centre)
    order = np.argsort(-ratings, kind="stable")
    return {
        "votes": len(mine), "needed": 0, "lam": board.lam,
        "cv_log_loss": round(board.cv_log_loss, 4),
        "global_log_loss": round(board.global_log_loss, 4),
        "rows": [{"rank": pos + 1, "model": models[k], "rating": round(float(ratings[k]), 1),
                  "global": public[models[k]]} for pos, k in enumerate(order)],
    }
