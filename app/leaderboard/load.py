"""Read voted battles and model settings from the database into plain records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.db.models import Battle, ModelEntry, Turn, Visitor, Vote
from app.leaderboard.records import ModelInfo, TurnRecord, VotedBattle


def _utc(value: datetime) -> datetime:
    """SQLite gives naive datetimes back; every stored time is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def load_battle_records(
    session: AsyncSession, *, cutoff: datetime | None = None
) -> list[VotedBattle]:
    """Every battle with a vote cast before ``cutoff``, oldest vote first (ties by id)."""
    query = (
        select(Vote, Battle, Visitor.banned)
        .join(Battle, Battle.id == Vote.battle_id)
        .join(Visitor, Visitor.id == Vote.visitor_id)
        .options(selectinload(Battle.turns).selectinload(Turn.generations))
        .order_by(Vote.created_at, Vote.battle_id)
    )
    if cutoff is not None:
        query = query.where(Vote.created_at < cutoff)
    records = []
    for vote, battle, banned in (await session.execute(query)).all():
        turns = []
        for turn in battle.turns:
            by_side = {g.side: g for g in turn.generations}
            a, b = by_side.get("a"), by_side.get("b")
            turns.append(TurnRecord(
                prompt=turn.prompt,
                answer_a=a.text if a else "", answer_b=b.text if b else "",
                status_a=a.status if a else "missing", status_b=b.status if b else "missing",
                tokens_a=a.completion_tokens if a else None,
                tokens_b=b.completion_tokens if b else None,
            ))
        records.append(VotedBattle(
            battle_id=battle.id, visitor_id=vote.visitor_id, mode=battle.mode,
            model_a=battle.model_a, model_b=battle.model_b, winner=vote.winner,
            vote_anonymous=bool(vote.anonymous), voted_at=_utc(vote.created_at),
            ip_hash=vote.ip_hash,
            language=battle.language, categories=tuple(sorted(set(battle.categories or ()))),
            review_status=battle.review_status, image_sha256=battle.image_sha256,
            removed=bool(battle.removed) or battle.review_status == "removed",
            visitor_banned=bool(banned), vote_excluded=bool(vote.excluded), turns=tuple(turns),
            is_preset=bool(battle.is_preset), preset=battle.preset,
            deleted=battle.deleted_at is not None, **_reasons(vote),
        ))
    return records


def _reasons(vote: Vote) -> dict[str, Any]:
    tags = vote.reason_tags or {}
    return {
        "reason_tags_a": tuple(tags.get("a", ())), "reason_tags_b": tuple(tags.get("b", ())),
        "reason_comment": vote.reason_comment, "has_reasons": vote.reasons_at is not None,
    }


async def load_model_info(session: AsyncSession) -> dict[str, ModelInfo]:
    """Identity words (the name itself plus the registry's identity_words) and `ranked`."""
    info = {}
    for m in (await session.scalars(select(ModelEntry).order_by(ModelEntry.name))).all():
        words = [m.name, *[str(w) for w in m.identity_words or ()]]
        info[m.name] = ModelInfo(
            name=m.name,
            identity_words=tuple(dict.fromkeys(w.strip() for w in words if w.strip())),
            ranked=bool(m.ranked),
        )
    return info
