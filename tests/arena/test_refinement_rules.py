"""Refinement turns and refinement battles against the real databases (PostgreSQL and
SQLite): the vote rule of a refinement battle holds in rules.py and in the database's
trigger (a vote row written past the code is refused), the feedback turn is stored with
its kind and the turn it refines and reaches the workers with the whole conversation,
"before" ratings go in with it atomically, two submissions at once make one turn, and the
schema's CHECKs refuse what the code never writes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.arena.battles import VOTE_RULE, Limits, cast_vote, load_battle
from app.arena.errors import ArenaError
from app.arena.ratings import ALREADY_RATED, check_ratings, rate_answers
from app.arena.refinement import FEEDBACK_MAX_CHARS, add_refinement
from app.arena.rules import REFINEMENT_VOTE_FIRST, vote_refusal
from app.db.models import Battle, Generation, Turn, Visitor, Vote
from app.queue.memory_queue import MemoryQueue
from tests.arena.conftest import live_queue, seeded_sessionmaker
from workers import job_store

MODELS = ("rf-alpha", "rf-beta")
LIMITS = Limits(max_prompt_chars=4000, max_turns=6, max_queue_depth_per_worker=100)


@pytest.fixture
async def sm(db_url: str) -> AsyncIterator[async_sessionmaker]:
    async with seeded_sessionmaker(db_url, MODELS, max_new_tokens=9) as maker:
        yield maker


@pytest.fixture
async def queue() -> MemoryQueue:
    return await live_queue(*MODELS)


async def _battle(
    sm: async_sessionmaker, *, refinement: bool = True
) -> tuple[uuid.UUID, uuid.UUID]:
    """(battle id, visitor id): an anonymous battle whose first answers are done."""
    async with sm() as session:
        visitor = Visitor(ip_hash="f" * 64)
        session.add(visitor)
        await session.flush()
        battle = Battle(visitor_id=visitor.id, mode="anonymous", model_a=MODELS[0],
                        model_b=MODELS[1], ip_hash="f" * 64, refinement=refinement)
        turn = Turn(battle=battle, index=0, prompt="How many circles are there?")
        for side, model in zip("ab", MODELS, strict=True):
            Generation(turn=turn, side=side, model=model, status="done",
                       text=f"There are {2 if side == 'a' else 3} circles.")
        session.add(battle)
        await session.commit()
        return battle.id, visitor.id


async def _load(sm: async_sessionmaker, bid: uuid.UUID) -> Battle:
    async with sm() as session:
        battle = await load_battle(session, bid)
    assert battle is not None
    return battle


async def _finish_latest(sm: async_sessionmaker, bid: uuid.UUID) -> None:
    """What the workers do: the latest turn's answers are done."""
    async with sm() as session:
        latest = select(func.max(Turn.index)).where(Turn.battle_id == bid).scalar_subquery()
        turn_id = await session.scalar(
            select(Turn.id).where(Turn.battle_id == bid, Turn.index == latest))
        await session.execute(update(Generation).where(Generation.turn_id == turn_id)
                              .values(status="done", text="Refined: 3 circles."))
        await session.commit()


async def _refine(sm: async_sessionmaker, queue: MemoryQueue, bid: uuid.UUID, feedback: str,
                  ratings: dict[str, int] | None = None) -> Turn:
    async with sm() as session:
        battle = await load_battle(session, bid)
        assert battle is not None
        return await add_refinement(session, queue, battle, feedback, LIMITS, ratings=ratings)


async def _rate(sm: async_sessionmaker, bid: uuid.UUID, turn: int,
                ratings: dict[str, int]) -> None:
    battle = await _load(sm, bid)
    async with sm() as session:
        await rate_answers(session, battle, turn, ratings)


async def _insert_vote(sm: async_sessionmaker, bid: uuid.UUID, vid: uuid.UUID) -> None:
    """A vote row written straight into the database, past every check in the code."""
    async with sm() as session:
        session.add(Vote(battle_id=bid, visitor_id=vid, winner="model_a", anonymous=True,
                         ip_hash="f" * 64))
        await session.commit()


async def _counts(sm: async_sessionmaker, bid: uuid.UUID) -> tuple[int, int, int]:
    """(turns, generations, rated generations) of a battle."""
    async with sm() as session:
        turns = await session.scalar(select(func.count()).where(Turn.battle_id == bid))
        gens, rated = (await session.execute(
            select(func.count(), func.count(Generation.rating)).select_from(Generation)
            .join(Turn).where(Turn.battle_id == bid))).one()
        return int(turns or 0), int(gens), int(rated)


async def test_the_refinement_vote_rule_in_code_and_database(
    sm: async_sessionmaker, queue: MemoryQueue
) -> None:
    bid, vid = await _battle(sm)
    battle = await _load(sm, bid)
    assert vote_refusal(battle) == REFINEMENT_VOTE_FIRST
    async with sm() as session:
        battle = await load_battle(session, bid)
        visitor = await session.get(Visitor, vid)
        with pytest.raises(ArenaError) as refused:
            await cast_vote(session, battle, visitor, "model_a", "f" * 64)  # type: ignore[arg-type]
    assert refused.value.status == 409 and refused.value.message == REFINEMENT_VOTE_FIRST
    # The trigger refuses it too: no code path can vote before the refinement.
    with pytest.raises(IntegrityError) as exc:
        await _insert_vote(sm, bid, vid)
    assert VOTE_RULE in str(exc.value.orig)

    turn = await _refine(sm, queue, bid, "  Count again: look at the left side.  ",
                         {"a": 3, "b": 7})
    assert (turn.index, turn.kind, turn.refines_index) == (1, "refinement", 0)
    battle = await _load(sm, bid)
    assert battle.turns[1].prompt == "Count again: look at the left side."
    assert [g.rating for g in battle.turns[0].generations] == [3, 7]
    # While the refined answers are generated: still no vote, in the code or the database.
    assert vote_refusal(battle) == "Please wait until both answers have finished before voting."
    with pytest.raises(IntegrityError):
        await _insert_vote(sm, bid, vid)

    await _finish_latest(sm, bid)
    assert vote_refusal(await _load(sm, bid)) is None
    await _insert_vote(sm, bid, vid)  # now the database accepts it


async def test_a_question_after_the_refinement_asks_for_feedback_again(
    sm: async_sessionmaker, queue: MemoryQueue
) -> None:
    """The vote follows a refinement: a new question after it closes the vote until the
    next feedback was answered. An ordinary battle votes after a question as before."""
    bid, vid = await _battle(sm)
    await _refine(sm, queue, bid, "Wrong: count the small ones too.")
    await _finish_latest(sm, bid)
    async with sm() as session:
        battle = await load_battle(session, bid)
        from app.arena.battles import add_turn

        await add_turn(session, queue, battle, "And the squares?", LIMITS)  # type: ignore[arg-type]
    await _finish_latest(sm, bid)
    assert vote_refusal(await _load(sm, bid)) == REFINEMENT_VOTE_FIRST
    with pytest.raises(IntegrityError):
        await _insert_vote(sm, bid, vid)

    plain, plain_visitor = await _battle(sm, refinement=False)
    assert vote_refusal(await _load(sm, plain)) is None
    await _insert_vote(sm, plain, plain_visitor)


async def test_the_workers_get_the_feedback_with_the_whole_conversation(
    sm: async_sessionmaker, queue: MemoryQueue
) -> None:
    bid, _ = await _battle(sm)
    turn = await _refine(sm, queue, bid, "The count is wrong.")
    gens = {g.side: g.id for g in (await _load(sm, bid)).turns[1].generations}
    assert set(gens) == {"a", "b"} and turn.kind == "refinement"
    for side, earlier in (("a", "There are 2 circles."), ("b", "There are 3 circles.")):
        async with sm() as session:
            ctx = await job_store.begin_attempt(session, str(gens[side]), f"w-{side}")
        assert ctx is not None
        assert [(m.role, m.text) for m in ctx.messages] == [
            ("user", "How many circles are there?"),
            ("assistant", earlier),  # each side continues its own conversation
            ("user", "The count is wrong."),
        ]
    # Both jobs were queued, one per model.
    assert [await queue.depth(m) for m in MODELS] == [1, 1]


@pytest.mark.parametrize("case", ["empty", "blank", "over-long", "nul", "voted",
                                  "streaming", "bad-rating", "rated-before"])
async def test_refused_feedback_writes_nothing(
    sm: async_sessionmaker, queue: MemoryQueue, case: str
) -> None:
    bid, vid = await _battle(sm, refinement=case != "voted")
    feedback, ratings, status = "Look again.", {"a": 5}, 422
    if case == "empty":
        feedback = ""
    elif case == "blank":
        feedback = " \n\t "
    elif case == "over-long":
        feedback = "x" * (FEEDBACK_MAX_CHARS + 1)
    elif case == "nul":
        feedback = "look\x00again"
    elif case == "voted":
        await _insert_vote(sm, bid, vid)
        status = 409
    elif case == "streaming":
        await _refine(sm, queue, bid, "First feedback.")
        status = 409
    elif case == "bad-rating":
        with pytest.raises(ArenaError) as exc:
            check_ratings({"a": 11})
        assert exc.value.status == 422 and "from 1 to 10" in exc.value.message
        ratings = {"a": 0}
    elif case == "rated-before":
        await _rate(sm, bid, 0, {"b": 4})
        ratings, status = {"a": 5, "b": 6}, 409
    before = await _counts(sm, bid)
    with pytest.raises((ArenaError, IntegrityError)) as exc:
        await _refine(sm, queue, bid, feedback, ratings)
    if isinstance(exc.value, ArenaError):
        assert exc.value.status == status, exc.value.message
    else:  # a rating of 0 given past check_ratings: the column's CHECK refuses it
        assert case == "bad-rating"
    assert await _counts(sm, bid) == before  # no turn, no answer, no rating
    if case == "rated-before":
        assert [g.rating for g in (await _load(sm, bid)).turns[0].generations] == [None, 4]


async def test_two_feedbacks_at_once_make_one_refinement_turn(
    sm: async_sessionmaker, queue: MemoryQueue
) -> None:
    bid, _ = await _battle(sm)
    battles = [await _load(sm, bid), await _load(sm, bid)]  # both saw the same state

    async def send(battle: Battle, text: str) -> object:
        async with sm() as session:
            try:
                return await add_refinement(session, queue, battle, text, LIMITS,
                                            ratings={"a": 2})
            except ArenaError as exc:
                return exc

    results = await asyncio.gather(send(battles[0], "Feedback one."),
                                   send(battles[1], "Feedback two."))
    refused = [r for r in results if isinstance(r, ArenaError)]
    assert len(refused) == 1 and refused[0].status == 409
    battle = await _load(sm, bid)
    assert [t.kind for t in battle.turns] == ["question", "refinement"]
    assert [g.rating for g in battle.turns[0].generations] == [2, None]
    assert await _counts(sm, bid) == (2, 4, 1)


async def test_ratings_once_each_and_atomic(sm: async_sessionmaker, queue: MemoryQueue) -> None:
    bid, _ = await _battle(sm)
    await _refine(sm, queue, bid, "The count is wrong.")
    with pytest.raises(ArenaError) as exc:  # the refined answers are still being written
        await _rate(sm, bid, 1, {"a": 8})
    assert exc.value.status == 409
    await _finish_latest(sm, bid)
    with pytest.raises(ArenaError) as exc:  # "before" ratings only before the next turn
        await _rate(sm, bid, 0, {"a": 8})
    assert exc.value.status == 409 and "latest turn" in exc.value.message

    async def rate(values: dict[str, int]) -> object:
        try:
            return await _rate(sm, bid, 1, values)
        except ArenaError as exc:
            return exc

    results = await asyncio.gather(rate({"a": 9, "b": 6}), rate({"a": 1, "b": 1}))
    refused = [r for r in results if isinstance(r, ArenaError)]
    assert len(refused) == 1 and refused[0].message == ALREADY_RATED
    after = [g.rating for g in (await _load(sm, bid)).turns[1].generations]
    assert after in ([9, 6], [1, 1])  # one request's ratings, whole

    with pytest.raises(ArenaError) as exc:
        await _rate(sm, bid, 1, {"a": 2})
    assert exc.value.message == ALREADY_RATED


@pytest.mark.parametrize("bad", ["kind", "refines-missing", "refines-later", "rating",
                                 "named-refinement"])
async def test_the_schema_refuses_inconsistent_rows(sm: async_sessionmaker, bad: str) -> None:
    bid, vid = await _battle(sm)
    async with sm() as session:
        with pytest.raises(IntegrityError):
            if bad == "kind":
                session.add(Turn(battle_id=bid, index=1, prompt="x", kind="comment"))
            elif bad == "refines-missing":
                session.add(Turn(battle_id=bid, index=1, prompt="x", kind="refinement"))
            elif bad == "refines-later":
                session.add(Turn(battle_id=bid, index=1, prompt="x", kind="refinement",
                                 refines_index=1))
            elif bad == "rating":
                turn = select(Turn.id).where(Turn.battle_id == bid).scalar_subquery()
                await session.execute(update(Generation).where(Generation.turn_id == turn)
                                      .values(rating=11))
            else:
                session.add(Battle(visitor_id=vid, mode="side_by_side", model_a=MODELS[0],
                                   model_b=MODELS[1], ip_hash="f" * 64, refinement=True))
            await session.commit()
