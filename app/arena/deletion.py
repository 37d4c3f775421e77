"""A visitor's own battles: the list, and deleting one (a tombstone, never a hard delete).

Deleting sets `battles.deleted_at` in one conditional UPDATE (owner, not deleted yet), so
of two concurrent deletes exactly one writes the tombstone and the audit record, and the
other (like any repeat) is answered the same, idempotently. The UPDATE also bumps the
battle's version, so a vote racing the delete either lands first (and the tombstone
records it) or is refused. The rows stay: the vote is never silently lost. What changes is
who sees the battle: its owner's list and pages (404), its image (404), every release
(workers/export.py), and by default the leaderboard (cleaning rule `deleted`).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.arena.errors import ArenaError
from app.db.admin_tables import AuditLog
from app.db.models import Battle, Turn, Visitor, Vote, utcnow

NOT_FOUND = "Battle not found."
LIST_LIMIT = 100


async def visitor_battles(
    session: AsyncSession, visitor: Visitor, *, limit: int = LIST_LIMIT
) -> list[Battle]:
    """The visitor's battles that are still theirs to see (not deleted, not removed by a
    moderator), newest first."""
    return list(
        (
            await session.scalars(
                select(Battle)
                .where(
                    Battle.visitor_id == visitor.id,
                    Battle.deleted_at.is_(None),
                    Battle.removed.is_(False),
                )
                .options(
                    selectinload(Battle.turns).selectinload(Turn.generations),
                    selectinload(Battle.vote),
                )
                .order_by(Battle.created_at.desc(), Battle.id)
                .limit(limit)
            )
        ).all()
    )


def _vote_record(vote: Vote | None) -> dict | None:
    if vote is None:
        return None
    return {
        "winner": vote.winner,
        "voted_at": vote.created_at.isoformat(),
        "anonymous": bool(vote.anonymous),
        "excluded": bool(vote.excluded),
        "reasons_given": vote.reasons_at is not None,
    }


async def delete_battle(session: AsyncSession, battle_id: str, visitor: Visitor) -> uuid.UUID:
    """Tombstone the visitor's battle. 404 for a missing battle, another visitor's and one
    removed by a moderator (ids must not be probed); a battle already deleted by its owner
    is answered as deleted again."""
    try:
        bid = uuid.UUID(str(battle_id))
    except ValueError as exc:
        raise ArenaError(NOT_FOUND, 404) from exc
    mine = (Battle.id == bid, Battle.visitor_id == visitor.id, Battle.removed.is_(False))
    now = utcnow()
    won = (
        await session.execute(
            update(Battle)
            .where(*mine, Battle.deleted_at.is_(None))
            .values(deleted_at=now, version=Battle.version + 1)
            .returning(Battle.image_sha256, Battle.mode)
        )
    ).first()
    if won is None:
        await session.rollback()
        if await session.scalar(select(Battle.deleted_at).where(*mine)) is None:
            raise ArenaError(NOT_FOUND, 404)
        return bid  # deleted already (maybe by a concurrent request): the same answer
    # Read under the row lock the UPDATE holds: a vote committed before it is seen here.
    vote = _vote_record(await session.scalar(select(Vote).where(Vote.battle_id == bid)))
    await session.execute(update(Battle).where(Battle.id == bid).values(deleted_vote=vote))
    session.add(
        AuditLog(
            actor=f"visitor:{visitor.id}",
            action="battle.delete",
            target=f"battle:{bid}",
            before={"vote": vote, "image_sha256": won.image_sha256, "mode": won.mode},
            after={"deleted_at": now.isoformat()},
        )
    )
    await session.commit()
    return bid
