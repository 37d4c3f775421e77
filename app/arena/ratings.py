"""Per-answer 1-10 ratings: how good the visitor found each answer of a turn.

With refinement they measure the refinement itself: the answers of the turn that got
feedback are rated "before", those of the refinement turn "after" (the same column,
`generations.rating`; a turn's kind says which is which). Optional, once per answer, and
atomic: every rating of one request is stored or none is. *When* answers may be rated is
a battle rule (app/arena/rules.py, `rating_refusal`); "once" is a conditional UPDATE (still
unrated, done, the turn still the latest and the battle unvoted), so two requests at once
store one rating.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import exists, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.arena.errors import ArenaError
from app.arena.rules import rating_refusal
from app.db.models import Battle, Generation, Turn, Vote

RATING_MIN, RATING_MAX = 1, 10
ALREADY_RATED = "These answers were already rated."


def check_rating(value: object, side: str) -> int | None:
    """A rating as stored (None: not given), or a 422 that says what is wrong. Forms send
    text ("" for none); the API sends an integer or null."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not (
        RATING_MIN <= value <= RATING_MAX
    ):
        raise ArenaError(
            f"The rating of answer {side.upper()} must be a whole number from "
            f"{RATING_MIN} to {RATING_MAX}.",
            422,
        )
    return value


def check_ratings(values: Mapping[str, object]) -> dict[str, int]:
    """{side: rating} of the sides that were rated ("a", "b"; nothing else)."""
    unknown = set(values) - {"a", "b"}
    if unknown:
        raise ArenaError("Ratings are given per side: a and b.", 422)
    return {s: r for s, v in sorted(values.items()) if (r := check_rating(v, s)) is not None}


async def store_ratings(
    session: AsyncSession, battle: Battle, turn_index: int, ratings: Mapping[str, int]
) -> None:
    """Write `ratings` for the answers of turn `turn_index` in the caller's transaction
    (the caller commits). 409, with the transaction rolled back, when any of them was
    rated already or the battle moved on (a vote, a new turn) since it was read."""
    if not ratings:
        return
    refusal = rating_refusal(battle, turn_index)
    if refusal:
        raise ArenaError(*refusal)
    turn = battle.turns[turn_index]
    sides = {g.side for g in turn.generations}
    if not set(ratings) <= sides:
        raise ArenaError("This conversation has no such answer to rate.", 422)
    later = exists().where(Turn.battle_id == battle.id, Turn.index > turn_index)
    voted = exists().where(Vote.battle_id == battle.id)
    for side, rating in ratings.items():
        row = (
            await session.execute(
                update(Generation)
                .where(
                    Generation.turn_id == turn.id,
                    Generation.side == side,
                    Generation.status == "done",
                    Generation.rating.is_(None),
                    ~later,
                    ~voted,
                )
                .values(rating=rating)
                .returning(Generation.id)
            )
        ).first()
        if row is None:
            await session.rollback()
            raise ArenaError(ALREADY_RATED, 409)


async def rate_answers(
    session: AsyncSession, battle: Battle, turn_index: int, ratings: Mapping[str, int]
) -> None:
    """Rate the answers of one turn on their own (the "after" ratings of a refinement)."""
    if not ratings:
        raise ArenaError("Choose a rating from 1 to 10 for at least one answer.", 422)
    await store_ratings(session, battle, turn_index, ratings)
    await session.commit()
