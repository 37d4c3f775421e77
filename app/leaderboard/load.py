"""Read voted battles and model settings from the database into plain records."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Row, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.db.models import Battle, Generation, ModelEntry, Turn, Visitor, Vote
from app.leaderboard.cleaning import identity_names, ranking_facts
from app.leaderboard.records import ModelInfo, TurnRecord, VotedBattle
from app.leaderboard.style_store import stored_style
from app.ranking.slices import REFINEMENT

# Battles per round trip of the ranking reader: their texts are in memory at once.
CHUNK = 5_000


class _Answer(Protocol):
    """A generation's fields a turn record reads (an ORM row or a column row)."""

    text: str
    status: str
    completion_tokens: int | None
    rating: int | None
    style: dict[str, Any] | None


def _turn(prompt: str, kind: str, refines: int | None,
          by_side: Mapping[str, _Answer]) -> TurnRecord:
    a, b = by_side.get("a"), by_side.get("b")
    return TurnRecord(
        prompt=prompt,
        answer_a=a.text if a else "", answer_b=b.text if b else "",
        status_a=a.status if a else "missing", status_b=b.status if b else "missing",
        tokens_a=a.completion_tokens if a else None,
        tokens_b=b.completion_tokens if b else None,
        kind=kind, refines=refines,
        rating_a=a.rating if a else None, rating_b=b.rating if b else None,
        style_a=stored_style(a.style, a.completion_tokens) if a else None,
        style_b=stored_style(b.style, b.completion_tokens) if b else None,
    )


def turn_record(turn: Turn) -> TurnRecord:
    """A stored turn (its generations loaded) as a record; a side without a generation is
    'missing'. The leaderboard and the release read turns through this one function (the
    ranking reader through its ``_turn``, from columns)."""
    return _turn(turn.prompt, turn.kind, turn.refines_index,
                 {g.side: g for g in turn.generations})


def _utc(value: datetime) -> datetime:
    """SQLite gives naive datetimes back; every stored time is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def load_battle_records(
    session: AsyncSession, *, cutoff: datetime | None = None,
    battle_ids: Collection[uuid.UUID] | None = None,
) -> list[VotedBattle]:
    """Every battle with a vote cast before ``cutoff`` (only ``battle_ids`` when given),
    oldest vote first (ties by id)."""
    query = (
        select(Vote, Battle, Visitor.banned)
        .join(Battle, Battle.id == Vote.battle_id)
        .join(Visitor, Visitor.id == Vote.visitor_id)
        .options(selectinload(Battle.turns).selectinload(Turn.generations))
        .order_by(Vote.created_at, Vote.battle_id)
    )
    if cutoff is not None:
        query = query.where(Vote.created_at < cutoff)
    if battle_ids is not None:
        query = query.where(Vote.battle_id.in_(list(battle_ids)))
    records = []
    for vote, battle, banned in (await session.execute(query)).all():
        turns = [turn_record(turn) for turn in battle.turns]
        categories = {*(battle.categories or ()), *([REFINEMENT] if battle.refinement else [])}
        records.append(VotedBattle(
            battle_id=battle.id, visitor_id=vote.visitor_id, mode=battle.mode,
            model_a=battle.model_a, model_b=battle.model_b, winner=vote.winner,
            vote_anonymous=bool(vote.anonymous), voted_at=_utc(vote.created_at),
            ip_hash=vote.ip_hash,
            language=battle.language, categories=tuple(sorted(categories)),
            review_status=battle.review_status, image_sha256=battle.image_sha256,
            removed=bool(battle.removed) or battle.review_status == "removed",
            visitor_banned=bool(banned), vote_excluded=bool(vote.excluded), turns=tuple(turns),
            is_preset=bool(battle.is_preset), preset=battle.preset,
            deleted=battle.deleted_at is not None, refinement=bool(battle.refinement),
            **_reasons(vote),
        ))
    return records


_VOTE_COLUMNS = (
    Vote.battle_id, Vote.visitor_id, Vote.winner, Vote.anonymous, Vote.created_at,
    Vote.ip_hash, Vote.excluded, Vote.reason_tags, Vote.reason_comment, Vote.reasons_at,
    Battle.mode, Battle.model_a, Battle.model_b, Battle.language, Battle.categories,
    Battle.refinement, Battle.review_status, Battle.image_sha256, Battle.removed,
    Battle.is_preset, Battle.preset, Battle.deleted_at, Visitor.banned,
)
_TURN_COLUMNS = (
    Turn.battle_id, Turn.index, Turn.prompt, Turn.kind, Turn.refines_index, Generation.side,
    Generation.text, Generation.status, Generation.completion_tokens, Generation.rating,
    Generation.style,
)


async def _turns_of(session: AsyncSession, ids: list[uuid.UUID],
                    ) -> dict[uuid.UUID, tuple[TurnRecord, ...]]:
    """The turns of these battles, in order, from columns (no ORM objects)."""
    query = (select(*_TURN_COLUMNS).select_from(Turn)
             .outerjoin(Generation, Generation.turn_id == Turn.id)
             .where(Turn.battle_id.in_(ids)).order_by(Turn.battle_id, Turn.index))
    grouped: dict[tuple[uuid.UUID, int], tuple[Row[Any], dict[str, Row[Any]]]] = {}
    connection = await session.connection()  # Core rows: no ORM loading per row
    for row in (await connection.execute(query)).all():
        _, sides = grouped.setdefault((row.battle_id, row.index), (row, {}))
        if row.side is not None:
            sides[row.side] = row
    out: dict[uuid.UUID, list[TurnRecord]] = {}
    for (battle_id, _), (row, sides) in sorted(grouped.items(), key=lambda kv: kv[0]):
        out.setdefault(battle_id, []).append(
            _turn(row.prompt, row.kind, row.refines_index, sides))
    return {k: tuple(v) for k, v in out.items()}


async def load_ranking_records(
    session: AsyncSession, models: Mapping[str, ModelInfo], *,
    cutoff: datetime | None = None, chunk: int = CHUNK,
) -> list[VotedBattle]:
    """The battles of ``load_battle_records`` (same order, same fields) read for ranking
    only: ``chunk`` votes at a time (keyset pages by vote time and id), the needed columns
    only, and each battle's turns reduced to its ``RankingFacts`` before the next page, so
    memory holds one page of texts, not every battle's. ``models`` are the identity words
    the facts are checked against (``load_model_info``)."""
    base = (select(*_VOTE_COLUMNS)
            .join(Battle, Battle.id == Vote.battle_id)
            .join(Visitor, Visitor.id == Vote.visitor_id)
            .order_by(Vote.created_at, Vote.battle_id).limit(chunk))
    if cutoff is not None:
        base = base.where(Vote.created_at < cutoff)
    shared: dict[Any, Any] = {}  # one object per repeated value (model, visitor, ip hash)
    names = identity_names(models)
    connection = await session.connection()  # Core rows: no ORM loading per row

    def one(value: Any) -> Any:
        return shared.setdefault(value, value)

    records: list[VotedBattle] = []
    after: tuple[Any, uuid.UUID] | None = None
    while True:
        query = base if after is None else base.where(
            Vote.created_at >= after[0],  # lets the created_at index bound the scan
            or_(Vote.created_at > after[0],
                and_(Vote.created_at == after[0], Vote.battle_id > after[1])))
        rows = (await connection.execute(query)).all()
        if not rows:
            return records
        after = (rows[-1].created_at, rows[-1].battle_id)
        turns = await _turns_of(session, [r.battle_id for r in rows])
        for r in rows:
            categories = {*(r.categories or ()), *([REFINEMENT] if r.refinement else [])}
            tags = r.reason_tags or {}
            fields: dict[str, Any] = dict(
                battle_id=r.battle_id, visitor_id=one(r.visitor_id), mode=one(r.mode),
                model_a=one(r.model_a), model_b=one(r.model_b), winner=one(r.winner),
                vote_anonymous=bool(r.anonymous), voted_at=_utc(r.created_at),
                ip_hash=one(r.ip_hash), language=one(r.language),
                categories=one(tuple(sorted(categories))),
                review_status=one(r.review_status), image_sha256=r.image_sha256,
                removed=bool(r.removed) or r.review_status == "removed",
                visitor_banned=bool(r.banned), vote_excluded=bool(r.excluded),
                is_preset=bool(r.is_preset), preset=one(r.preset),
                deleted=r.deleted_at is not None, refinement=bool(r.refinement),
                reason_tags_a=tuple(tags.get("a", ())), reason_tags_b=tuple(tags.get("b", ())),
                reason_comment=r.reason_comment, has_reasons=r.reasons_at is not None,
            )
            full = VotedBattle(**fields, turns=turns.get(r.battle_id, ()))
            records.append(VotedBattle(**fields, turns=(),
                                       facts=ranking_facts(full, models, names)))
        if len(rows) < chunk:
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
            retired=m.retired_at is not None,
        )
    return info
