"""Read voted battles and model settings from the database into plain records."""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, Protocol

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import selectinload

from app.db.models import Battle, Generation, ModelEntry, Turn, Visitor, Vote
from app.leaderboard.cleaning import identity_names, pair_identity_words, ranking_facts
from app.leaderboard.mentions_store import model_identity_words, stored_mentions
from app.leaderboard.records import ModelInfo, TurnRecord, VotedBattle
from app.leaderboard.style_store import stored_style
from app.ranking import StyleCounts
from app.ranking.battles import STYLE_VERSION
from app.ranking.slices import REFINEMENT

# Battles per round trip of the ranking reader: their rows (and the texts read) are in
# memory at once.
CHUNK = 5_000
# Answer ids per text query (bound parameters: PostgreSQL's protocol allows 32,767).
_TEXTS_PER_QUERY = 5_000


class _Answer(Protocol):
    """A generation's fields a turn record reads (an ORM row or a column row)."""

    text: str
    status: str
    completion_tokens: int | None
    rating: int | None
    style: dict[str, Any] | None


def _turn(prompt: str, kind: str, refines: int | None,
          by_side: Mapping[str, _Answer] | Mapping[str, _Side], *,
          decoded: bool = False) -> TurnRecord:
    """``decoded``: the answers' ``style`` is a ``StyleCounts`` already (the ranking
    reader's ``_Side``), not the stored JSON (``_Answer``)."""
    a, b = by_side.get("a"), by_side.get("b")

    def style(side: Any) -> StyleCounts | None:
        if side is None:
            return None
        return side.style if decoded else stored_style(side.style, side.completion_tokens)

    return TurnRecord(
        prompt=prompt,
        answer_a=a.text if a else "", answer_b=b.text if b else "",
        status_a=a.status if a else "missing", status_b=b.status if b else "missing",
        tokens_a=a.completion_tokens if a else None,
        tokens_b=b.completion_tokens if b else None,
        kind=kind, refines=refines,
        rating_a=a.rating if a else None, rating_b=b.rating if b else None,
        style_a=style(a), style_b=style(b),
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
_RANKING_TURN_COLUMNS = (
    Turn.battle_id, Turn.index, Turn.prompt, Turn.kind, Turn.refines_index,
    Generation.id.label("generation_id"), Generation.side, Generation.status,
    Generation.completion_tokens, Generation.rating, Generation.style, Generation.mentions,
)


@dataclass(frozen=True, slots=True)
class _Side:
    """One answer as the ranking reader has it: its text only where stored facts do not
    answer for it ("" otherwise: no identity word is in "", and the style is known)."""

    text: str
    status: str
    completion_tokens: int | None
    rating: int | None
    style: StyleCounts | None


# One answer row of the ranking reader: battle id, turn index, prompt, kind, refined turn,
# then the answer's id, side, status, completion tokens, rating, its stored style counts
# (None: count the text) and whether it names a model (None: look in its text); the
# answer fields are None for a turn without answers.
_AnswerRow = tuple[uuid.UUID, int, str, str, int | None, uuid.UUID | None, str | None,
                   str | None, int | None, int | None, StyleCounts | None, bool | None]


async def _answer_rows(connection: AsyncConnection, needed: Mapping[uuid.UUID, tuple[str, ...]],
                       ) -> list[_AnswerRow]:
    """Any database: the stored JSON decoded here (``stored_style``, ``stored_mentions``)."""
    query = (select(*_RANKING_TURN_COLUMNS).select_from(Turn)
             .outerjoin(Generation, Generation.turn_id == Turn.id)
             .where(Turn.battle_id.in_(list(needed))).order_by(Turn.battle_id, Turn.index))
    return [(r.battle_id, r.index, r.prompt, r.kind, r.refines_index, r.generation_id, r.side,
             r.status, r.completion_tokens, r.rating,
             None if r.generation_id is None else stored_style(r.style, r.completion_tokens),
             None if r.generation_id is None else stored_mentions(r.mentions,
                                                                  needed[r.battle_id]))
            for r in (await connection.execute(query)).all()]


# PostgreSQL decodes the stored JSON itself (a million battles' JSON through Python's json
# took longer than the rest of the read): the counts as text[] where the version matches,
# and the mentions verdict (``stored_mentions``: None unless "checked" holds every word
# looked for, $3 holds each model's lower-cased words) as a boolean. The battles come as
# arrays of (id, model a, model b), so each page's turns are index lookups.
_PG_ANSWER_ROWS = """
SELECT t.battle_id, t.index, t.prompt, t.kind, t.refines_index, g.id, g.side, g.status,
       g.completion_tokens, g.rating,
       CASE WHEN json_typeof(g.style->'version') = 'number' AND g.style->>'version' = $2
             AND json_typeof(g.style->'counts') = 'array'
            THEN ARRAY(SELECT json_array_elements_text(g.style->'counts')) END,
       CASE WHEN g.id IS NULL THEN NULL
            WHEN jsonb_array_length(w.needed) = 0 THEN false
            WHEN json_typeof(g.mentions->'checked') = 'array'
             AND json_typeof(g.mentions->'found') = 'array'
             AND (g.mentions->'checked')::jsonb @> w.needed
            THEN (g.mentions->'found')::jsonb ?| ARRAY(SELECT jsonb_array_elements_text(w.needed))
       END
FROM unnest($1::uuid[], $4::text[], $5::text[]) AS p(battle_id, model_a, model_b)
JOIN turns t ON t.battle_id = p.battle_id
CROSS JOIN LATERAL (SELECT coalesce($3::jsonb -> p.model_a, '[]'::jsonb)
                           || coalesce($3::jsonb -> p.model_b, '[]'::jsonb) AS needed) w
LEFT JOIN generations g ON g.turn_id = t.id
ORDER BY t.battle_id, t.index
"""


def _native_style(counts: list[str] | None, tokens: int | None) -> StyleCounts | None:
    """``stored_style`` of counts PostgreSQL gave as text (the version checked there);
    None (count the text) for anything that is not a list of integers of the right
    length."""
    try:
        return stored_style({"version": STYLE_VERSION, "counts": counts}, tokens)
    except ValueError:
        return None


async def _answer_rows_postgres(connection: AsyncConnection,
                                pairs: Mapping[uuid.UUID, tuple[str, str | None]],
                                words: Mapping[str, Sequence[str]]) -> list[_AnswerRow]:
    """PostgreSQL: ``_answer_rows`` through the driver (no per-row SQLAlchemy layer)."""
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    rows = await driver.fetch(_PG_ANSWER_ROWS, list(pairs), str(STYLE_VERSION),
                              json.dumps({m: [w.lower() for w in ws if w]
                                          for m, ws in words.items()}),
                              [a for a, _ in pairs.values()], [b for _, b in pairs.values()])
    return [(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
             None if r[5] is None else _native_style(r[10], r[8]), r[11]) for r in rows]


async def _answer_texts(connection: AsyncConnection, ids: list[uuid.UUID]) -> dict[Any, str]:
    texts: dict[Any, str] = {}
    if ids and connection.dialect.name == "postgresql":
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        rows = await driver.fetch("SELECT id, text FROM generations WHERE id = ANY($1::uuid[])",
                                  ids)
        return {r[0]: r[1] for r in rows}
    for at in range(0, len(ids), _TEXTS_PER_QUERY):
        text_query = select(Generation.id, Generation.text).where(
            Generation.id.in_(ids[at:at + _TEXTS_PER_QUERY]))
        texts.update((gid, text) for gid, text in (await connection.execute(text_query)))
    return texts


async def _ranking_turns(
    session: AsyncSession, pairs: Mapping[uuid.UUID, tuple[str, str | None]],
    needed: Mapping[uuid.UUID, tuple[str, ...]], words: Mapping[str, Sequence[str]], *,
    native: bool = True,
) -> dict[uuid.UUID, tuple[tuple[TurnRecord, ...], bool]]:
    """The turns of these battles (``pairs``: battle id → its models; ``needed``: → the
    identity words the rule looks for in it; ``words``: ``identity_names``), in order, and
    whether a stored answer discloses them. Answer texts are selected only for the
    answers whose stored style counts (``style_store``) or mentions (``mentions_store``)
    are missing or do not cover the words: when every row is current, no answer text
    crosses the wire. ``native``: on PostgreSQL, let the server decode the stored JSON
    (False: as on any database)."""
    connection = await session.connection()  # Core rows: no ORM loading per row
    rows = (await _answer_rows_postgres(connection, pairs, words)
            if native and connection.dialect.name == "postgresql"
            else await _answer_rows(connection, needed))
    disclosed: dict[uuid.UUID, bool] = {}
    read: list[uuid.UUID] = []  # the answers to read from their texts
    for row in rows:
        if row[5] is None:
            continue
        if row[10] is None or row[11] is None:
            read.append(row[5])
        elif row[11]:
            disclosed[row[0]] = True
    texts = await _answer_texts(connection, read)
    grouped: dict[tuple[uuid.UUID, int], tuple[_AnswerRow, dict[str, _Side]]] = {}
    for row in rows:
        _, sides = grouped.setdefault((row[0], row[1]), (row, {}))
        if row[6] is not None:
            sides[row[6]] = _Side(texts.get(row[5], ""), row[7] or "", row[8], row[9],
                                  row[10])
    out: dict[uuid.UUID, list[TurnRecord]] = {}
    for (battle_id, _), (row, sides) in sorted(grouped.items(), key=lambda kv: kv[0]):
        out.setdefault(battle_id, []).append(
            _turn(row[2], row[3], row[4], sides, decoded=True))
    return {k: (tuple(v), disclosed.get(k, False)) for k, v in out.items()}


async def load_ranking_records(
    session: AsyncSession, models: Mapping[str, ModelInfo], *,
    cutoff: datetime | None = None, chunk: int = CHUNK, native: bool = True,
) -> list[VotedBattle]:
    """The battles of ``load_battle_records`` (same order, same fields) read for ranking
    only: ``chunk`` votes at a time (keyset pages by vote time and id), the needed columns
    only, and each battle's turns reduced to its ``RankingFacts`` before the next page, so
    memory holds one page of rows, not every battle's. Answer texts are read only where
    the stored style counts or identity mentions do not answer for them
    (``_ranking_turns``; ``native``: its PostgreSQL path). ``models`` are the identity
    words the facts are checked against (``load_model_info``)."""
    base = (select(*_VOTE_COLUMNS)
            .join(Battle, Battle.id == Vote.battle_id)
            .join(Visitor, Visitor.id == Vote.visitor_id)
            .order_by(Vote.created_at, Vote.battle_id).limit(chunk))
    if cutoff is not None:
        base = base.where(Vote.created_at < cutoff)
    shared: dict[Any, Any] = {}  # one object per repeated value (model, visitor, ip hash)
    names = identity_names(models)
    connection = await session.connection()  # Core rows: no ORM loading per row

    @cache
    def pair_words(model_a: str, model_b: str) -> tuple[str, ...]:
        return pair_identity_words(names, model_a, model_b)

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
        turns = await _ranking_turns(
            session, {r.battle_id: (r.model_a, r.model_b) for r in rows},
            {r.battle_id: pair_words(r.model_a, r.model_b or "") for r in rows}, names,
            native=native)
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
            read, disclosed = turns.get(r.battle_id, ((), False))
            full = VotedBattle(**fields, turns=read)
            records.append(VotedBattle(**fields, turns=(), facts=ranking_facts(
                full, models, names, disclosed=disclosed,
                words=pair_words(fields["model_a"], fields["model_b"] or ""))))
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
        info[m.name] = ModelInfo(
            name=m.name,
            identity_words=model_identity_words(m.name, m.identity_words),
            ranked=bool(m.ranked),
            retired=m.retired_at is not None,
        )
    return info
