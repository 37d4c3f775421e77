"""Read the conversations of a date range from the database, a batch at a time.

Keyset pagination over (created_at, id) keeps memory flat however large the arena is: a
batch is loaded with its turns and answers, turned into plain records, and dropped
before the next. Every mode is read (direct chat, side-by-side, anonymous battles);
the release decides what goes where.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.db.models import Battle, Consent, Turn, Visitor, Vote
from app.leaderboard.load import turn_record
from app.leaderboard.records import TurnRecord, VotedBattle

BATCH = 200


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class VoteInfo:
    winner: str
    voted_at: datetime
    anonymous: bool
    excluded: bool
    ip_hash: str
    reason_tags: dict[str, Any] | None
    reason_comment: str | None
    has_reasons: bool


@dataclass(frozen=True)
class Conversation:
    """One battle row and what the filters need to know about it. ``turns`` use the
    leaderboard's TurnRecord (side b empty and status "missing" in a direct chat)."""

    battle_id: uuid.UUID
    visitor_id: uuid.UUID
    mode: str
    model_a: str
    model_b: str | None
    created_at: datetime
    image_sha256: str | None
    turns: tuple[TurnRecord, ...]
    errors: tuple[str, ...]  # the generations' stored errors
    language: str | None
    categories: tuple[str, ...]
    review_status: str
    removed: bool
    deleted: bool
    visitor_banned: bool
    consented: bool
    is_preset: bool
    preset: str | None
    moderation: dict[str, Any]
    vote: VoteInfo | None
    dropped_sides: frozenset[str] = field(default_factory=frozenset)
    # What filters changed (scrubbed texts, blurred image) and tagged (dedup).
    image_bytes: bytes | None = None  # set when a filter replaced the image (blur)
    dedup_high_freq: bool = False
    vote_dropped: bool = False  # the vote is out (excluded), the conversation stays in Chat

    @property
    def sides(self) -> tuple[str, ...]:
        names = ("a",) if self.model_b is None else ("a", "b")
        return tuple(s for s in names if s not in self.dropped_sides)

    def model(self, side: str) -> str:
        return self.model_a if side == "a" else (self.model_b or "")

    @property
    def battle_eligible(self) -> bool:
        """A Battle row: an anonymous battle with a vote that did not start from a preset
        and still has both sides."""
        return (self.mode == "anonymous" and self.vote is not None and self.vote.anonymous
                and not self.is_preset and self.model_b is not None
                and not self.dropped_sides and not self.vote_dropped)

    def voted_battle(self) -> VotedBattle:
        """The leaderboard's record of this battle (what the Battle schema's rows use)."""
        assert self.vote is not None and self.model_b is not None
        tags = self.vote.reason_tags or {}
        return VotedBattle(
            battle_id=self.battle_id, visitor_id=self.visitor_id, mode=self.mode,
            model_a=self.model_a, model_b=self.model_b, winner=self.vote.winner,
            vote_anonymous=self.vote.anonymous, voted_at=self.vote.voted_at,
            ip_hash=self.vote.ip_hash, language=self.language, categories=self.categories,
            review_status=self.review_status, image_sha256=self.image_sha256,
            removed=self.removed, visitor_banned=self.visitor_banned,
            vote_excluded=self.vote.excluded, turns=self.turns,
            reason_tags_a=tuple(tags.get("a", ())), reason_tags_b=tuple(tags.get("b", ())),
            reason_comment=self.vote.reason_comment, has_reasons=self.vote.has_reasons,
            is_preset=self.is_preset, preset=self.preset, deleted=self.deleted,
        )


def _range(start: datetime, end: datetime) -> Any:
    return and_(Battle.created_at >= start, Battle.created_at < end)


async def count_conversations(session: AsyncSession, start: datetime, end: datetime) -> int:
    return int(await session.scalar(
        select(func.count()).select_from(Battle).where(_range(start, end))) or 0)


def _record(battle: Battle, banned: bool, consented: bool, vote: Vote | None) -> Conversation:
    turns, errors = [], []
    for turn in battle.turns:
        by_side = {g.side: g for g in turn.generations}
        errors += [g.error for g in (by_side.get("a"), by_side.get("b"))
                   if g is not None and g.error]
        turns.append(turn_record(turn))
    info = None if vote is None else VoteInfo(
        winner=vote.winner, voted_at=_utc(vote.created_at), anonymous=bool(vote.anonymous),
        excluded=bool(vote.excluded), ip_hash=vote.ip_hash, reason_tags=vote.reason_tags,
        reason_comment=vote.reason_comment, has_reasons=vote.reasons_at is not None)
    return Conversation(
        battle_id=battle.id, visitor_id=battle.visitor_id, mode=battle.mode,
        model_a=battle.model_a, model_b=battle.model_b, created_at=_utc(battle.created_at),
        image_sha256=battle.image_sha256, turns=tuple(turns), errors=tuple(errors),
        language=battle.language, categories=tuple(sorted(set(battle.categories or ()))),
        review_status=battle.review_status,
        removed=bool(battle.removed) or battle.review_status == "removed",
        deleted=battle.deleted_at is not None, visitor_banned=bool(banned),
        consented=consented, is_preset=bool(battle.is_preset), preset=battle.preset,
        moderation=dict(battle.moderation or {}), vote=info,
    )


async def iter_conversations(session: AsyncSession, start: datetime, end: datetime, *,
                             terms_versions: Collection[str],
                             batch: int = BATCH) -> AsyncIterator[list[Conversation]]:
    """Batches of conversations created in [start, end), oldest first (ties by id)."""
    consented = exists().where(Consent.visitor_id == Battle.visitor_id,
                               Consent.terms_version.in_(list(terms_versions)))
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        query = (
            select(Battle, Visitor.banned, consented.label("consented"), Vote)
            .join(Visitor, Visitor.id == Battle.visitor_id)
            .outerjoin(Vote, Vote.battle_id == Battle.id)
            .where(_range(start, end))
            .options(selectinload(Battle.turns).selectinload(Turn.generations))
            .order_by(Battle.created_at, Battle.id)
            .limit(batch)
        )
        if after is not None:
            query = query.where(or_(Battle.created_at > after[0],
                                    and_(Battle.created_at == after[0], Battle.id > after[1])))
        rows = (await session.execute(query)).all()
        if not rows:
            return
        yield [_record(b, banned, bool(ok), vote) for b, banned, ok, vote in rows]
        after = (rows[-1][0].created_at, rows[-1][0].id)
        session.expunge_all()
        if len(rows) < batch:
            return
