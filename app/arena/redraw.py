"""A failed side on the first turn is re-drawn: another live model takes that side.

When a side's generation of an anonymous battle's first turn fails before it produced an
answer (an engine error, an unreachable endpoint, its attempts spent), the battle is not
lost: another live model is drawn for that side, by sampling weight, never the other
side's model nor one this battle already replaced. The generation keeps its id (so the
page's stream goes on; the new model's first attempt sends the page a `reset` of that
side) and its growing attempt number (the fencing token), and gets the new model, its
parameters and `attempts_base` (its attempts are counted from there).

`app/arena/rules.py` decides whether a re-draw is allowed. The transition is atomic:
the battle row is locked (its version bumped) while the rule is checked and the other
side's model read, and the generation changes only if it is still in the state its
caller saw (status and attempt), so two workers or a worker and the sweeper can not
re-draw it twice. The replaced model is recorded in `battles.redraws` and the audit log,
never in the vote and never shown before it.
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.arena.battles import enabled_models, generation_params, live_model_names
from app.arena.lifecycle import draw_weight
from app.arena.rules import redraw_excluded, redraw_refusal
from app.arena.sampling import sample_replacement
from app.db.admin_tables import AuditLog
from app.db.models import Battle, Generation, Turn, Vote, utcnow
from app.queue import JobQueue

log = logging.getLogger("arena.redraw")


@dataclass(frozen=True)
class Redrawn:
    generation_id: uuid.UUID
    battle_id: uuid.UUID
    side: str
    old_model: str
    new_model: str
    attempt: int  # the attempt that failed; the new model's first one is attempt + 1


async def redraw_failed_side(
    session: AsyncSession,
    queue: JobQueue,
    generation_id: uuid.UUID,
    *,
    seen_status: str,
    seen_attempts: int,
    reason: str,
    rng: random.Random | None = None,
) -> Redrawn | None:
    """Give the failed side of `generation_id` to another model, in the caller's
    transaction (the caller records how its attempt ended, then commits and calls
    `announce`). None, with nothing written, when the rules refuse, no model is left, or
    the generation moved on since the caller saw it (`seen_status`, `seen_attempts`)."""
    row = (
        await session.execute(
            select(Generation.side, Generation.model, Turn.index, Turn.battle_id)
            .join(Turn, Turn.id == Generation.turn_id)
            .where(Generation.id == generation_id)
        )
    ).first()
    if row is None or row.index != 0:
        return None
    # The candidates come from the queue (who is live), asked before any lock is taken.
    models = {m.name: m for m in await enabled_models(session) if not m.outage}
    live = await live_model_names(queue, list(models.values()))
    candidates = [(name, draw_weight(m)) for name, m in models.items() if name in live]
    await session.commit()  # end the reads: the writes below start a fresh transaction

    locked = (
        await session.execute(
            update(Battle)
            .where(Battle.id == row.battle_id, Battle.deleted_at.is_(None))
            .values(version=Battle.version + 1)
            .returning(Battle.mode, Battle.model_a, Battle.model_b, Battle.redraws)
        )
    ).first()
    if locked is None:
        await session.rollback()
        return None
    voted = await session.scalar(select(Vote.battle_id).where(Vote.battle_id == row.battle_id))
    refusal = redraw_refusal(
        mode=locked.mode,
        turn_index=row.index,
        voted=voted is not None,
        redraws=len(locked.redraws or []),
    )
    new = (
        None
        if refusal
        else sample_replacement(
            candidates,
            redraw_excluded(locked.model_a, locked.model_b, locked.redraws),
            rng or random.Random(),
        )
    )
    if new is None:
        await session.rollback()
        log.info(
            "side %s of battle %s is not re-drawn: %s",
            row.side,
            row.battle_id,
            refusal or "no other live model",
        )
        return None
    now = utcnow()
    won = (
        await session.execute(
            update(Generation)
            .where(
                Generation.id == generation_id,
                Generation.model == row.model,
                Generation.status == seen_status,
                Generation.attempts == seen_attempts,
            )
            .values(
                model=new,
                params=generation_params(models[new]),
                status="queued",
                attempts_base=Generation.attempts,
                worker_id=None,
                error=None,
                status_at=now,
            )
            .returning(Generation.id)
        )
    ).first()
    if won is None:  # another worker or the sweeper moved it on first
        await session.rollback()
        return None
    entry = {
        "side": row.side,
        "model": row.model,
        "attempts": seen_attempts,
        "error": reason[:500],
        "at": now.isoformat(),
    }
    await session.execute(
        update(Battle)
        .where(Battle.id == row.battle_id)
        .values(**{f"model_{row.side}": new}, redraws=[*(locked.redraws or []), entry])
    )
    session.add(
        AuditLog(
            actor="arena",
            action="battle.redraw",
            target=f"battle:{row.battle_id}",
            before={"side": row.side, "model": row.model, "error": reason[:500]},
            after={"side": row.side, "model": new},
        )
    )
    return Redrawn(generation_id, row.battle_id, row.side, row.model, new, seen_attempts)


async def announce(queue: JobQueue, redrawn: Redrawn) -> None:
    """After the commit: clear that side on the page at once (the new model's first
    attempt resets it again; the relay shows one), and give the job to the new model.
    Should the enqueue fail, the generation is queued in the database for the sweeper."""
    gid = str(redrawn.generation_id)
    try:
        await queue.publish(gid, {"type": "reset", "attempt": redrawn.attempt + 1})
    except Exception:  # cosmetic: the new attempt's own reset follows
        log.exception("could not announce the re-draw of %s", gid)
    await queue.enqueue(redrawn.new_model, gid)
    log.warning("battle %s: side %s re-drawn after a failure", redrawn.battle_id, redrawn.side)
