"""The fenced job protocol and the battle rules, against the real databases.

Each rule here is one the arena broke before it was enforced: a stalled worker saving over
the answer a visitor saw, a finished answer going back to queued, a vote and a follow-up
both accepted, work that Redis lost never running again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.arena.battles import Limits, add_turn, cast_vote, create_battle, load_battle
from app.arena.errors import ArenaError
from app.arena.views import battle_view
from app.arena.visitors import record_consent
from app.db.models import (
    Battle,
    Consent,
    Generation,
    GenerationAttempt,
    ModelEntry,
    Turn,
    Visitor,
    Vote,
    utcnow,
)
from app.db.session import make_engine, make_sessionmaker
from app.leaderboard.style_store import stored_style
from app.queue import WorkerInfo
from app.queue.memory_queue import MemoryQueue
from app.ranking import count_style
from workers import job_store
from workers.sweeper import sweep

MODELS = ("fp-alpha", "fp-beta")
LIMITS = Limits(max_prompt_chars=1000, max_turns=4, max_queue_depth_per_worker=100,
                max_generations_in_flight=4)


@pytest.fixture
async def sm(db_url: str) -> AsyncIterator[async_sessionmaker]:
    url = db_url
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    async with maker() as session:
        for name in MODELS:
            if await session.get(ModelEntry, name) is None:
                session.add(ModelEntry(name=name, backend="openai"))
        await session.commit()
    yield maker
    await engine.dispose()


async def _visitor(sm: async_sessionmaker) -> Visitor:
    async with sm() as session:
        visitor = Visitor(ip_hash="h" * 64)
        session.add(visitor)
        await session.commit()
        return visitor


async def _battle(
    sm: async_sessionmaker, visitor: Visitor, *, status: str = "queued", mode: str = "anonymous",
    age_s: float = 0.0,
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A battle with one turn and two generations in `status`, `age_s` old."""
    at = utcnow() - timedelta(seconds=age_s)
    async with sm() as session:
        battle = Battle(visitor_id=visitor.id, mode=mode, model_a=MODELS[0], model_b=MODELS[1],
                        ip_hash="h" * 64)
        turn = Turn(battle=battle, index=0, prompt="What is shown?")
        gens = [Generation(turn=turn, side=s, model=m, status=status, status_at=at,
                           text="an answer" if status == "done" else "")
                for s, m in zip("ab", MODELS, strict=True)]
        session.add(battle)
        await session.commit()
        return battle.id, [g.id for g in gens]


async def _queue_with_workers() -> MemoryQueue:
    queue = MemoryQueue()
    for name in MODELS:
        await queue.heartbeat(WorkerInfo(worker_id=f"w-{name}", model=name), 600)
    return queue


async def _attempts(sm: async_sessionmaker, gid: uuid.UUID) -> list[tuple[int, str, str]]:
    async with sm() as session:
        rows = await session.execute(
            select(GenerationAttempt.attempt, GenerationAttempt.worker_id,
                   GenerationAttempt.outcome)
            .where(GenerationAttempt.generation_id == gid).order_by(GenerationAttempt.attempt)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def _generation(sm: async_sessionmaker, gid: uuid.UUID) -> Generation:
    async with sm() as session:
        gen = await session.get(Generation, gid)
        assert gen is not None
        return gen


async def _save(sm: async_sessionmaker, gid: uuid.UUID, attempt: int, text: str) -> bool:
    async with sm() as session:
        return await job_store.save_answer(
            session, str(gid), attempt, text=text, prompt_tokens=3, completion_tokens=2,
            finish_reason="stop", ttft_ms=1.0, latency_ms=2.0,
        )


async def test_a_superseded_attempt_can_not_save_fail_or_requeue(sm: async_sessionmaker) -> None:
    """The worker that stalled past its lease wakes up after another took over."""
    _, (gid, _) = await _battle(sm, await _visitor(sm))
    async with sm() as session:
        first = await job_store.begin_attempt(session, str(gid), "w-stalled")
    async with sm() as session:
        second = await job_store.begin_attempt(session, str(gid), "w-fresh")
    assert first is not None and second is not None
    assert (first.attempt, second.attempt) == (1, 2)

    assert await _save(sm, gid, 2, "the answer the page showed")
    assert not await _save(sm, gid, 1, "a late answer")
    async with sm() as session:
        assert not await job_store.mark_failed(session, str(gid), 1, "late failure")
    async with sm() as session:
        assert await job_store.requeue(session, str(gid), 1, "late retry") is None
    async with sm() as session:  # nor the current attempt, once finished
        assert await job_store.requeue(session, str(gid), 2, "after done") is None

    gen = await _generation(sm, gid)
    assert (gen.status, gen.text, gen.attempts) == ("done", "the answer the page showed", 2)
    assert await _attempts(sm, gid) == [(1, "w-stalled", "superseded"), (2, "w-fresh", "done")]
    # The saved answer's style counts are stored with it, for the leaderboard (0019).
    assert stored_style(gen.style, 2) == count_style("the answer the page showed", 2)


async def test_a_stale_attempt_that_was_still_running_is_recorded_as_stale(
    sm: async_sessionmaker,
) -> None:
    _, (gid, _) = await _battle(sm, await _visitor(sm))
    async with sm() as session:
        ctx = await job_store.begin_attempt(session, str(gid), "w1")
    assert ctx is not None
    async with sm() as session:  # the sweeper fails it (its job was lost, no attempts left)
        stale = job_store.StaleGeneration(gid, "running", 1)
        assert await job_store.recover(session, stale, max_attempts=1, reason="lost") == "failed"
    assert not await _save(sm, gid, 1, "too late")
    gen = await _generation(sm, gid)
    assert gen.status == "failed" and gen.text == ""
    assert await _attempts(sm, gid) == [(1, "w1", "failed")]


async def test_a_finished_generation_never_changes_whoever_writes(sm: async_sessionmaker) -> None:
    _, (gid, _) = await _battle(sm, await _visitor(sm), status="done")
    for values in ({"status": "queued"}, {"text": "rewritten"}, {"attempts": 5}):
        async with sm() as session:
            with pytest.raises(IntegrityError, match="finished generation"):
                await session.execute(update(Generation).where(Generation.id == gid)
                                      .values(**values))
                await session.commit()
    async with sm() as session:  # bookkeeping that is not the answer may still change
        await session.execute(update(Generation).where(Generation.id == gid)
                              .values(worker_id="someone"))
        await session.commit()
    gen = await _generation(sm, gid)
    assert (gen.status, gen.text) == ("done", "an answer")


async def test_the_database_refuses_votes_that_break_the_rules(sm: async_sessionmaker) -> None:
    owner, stranger = await _visitor(sm), await _visitor(sm)
    unfinished, _ = await _battle(sm, owner, status="running")
    direct, _ = await _battle(sm, owner, status="done", mode="direct")
    finished, _ = await _battle(sm, owner, status="done")
    for battle_id, voter in ((finished, stranger), (unfinished, owner), (direct, owner)):
        async with sm() as session:
            session.add(Vote(battle_id=battle_id, visitor_id=voter.id, winner="model_a",
                             anonymous=True, ip_hash="h" * 64))
            with pytest.raises(IntegrityError, match="vote rule"):
                await session.commit()
    async with sm() as session:
        session.add(Vote(battle_id=finished, visitor_id=owner.id, winner="tie", anonymous=True,
                         ip_hash="h" * 64))
        await session.commit()
        assert await session.scalar(select(Vote.winner).where(Vote.battle_id == finished)) == "tie"


async def test_the_sweeper_recovers_what_the_queue_lost_and_nothing_else(
    sm: async_sessionmaker,
) -> None:
    visitor = await _visitor(sm)
    queue = MemoryQueue()
    _, (lost_queued, lost_running) = await _battle(sm, visitor, age_s=60)
    _, (held, lost_b1) = await _battle(sm, visitor, age_s=60)
    _, (fresh, fresh_b) = await _battle(sm, visitor, age_s=0)  # between commit and enqueue
    _, (worn_out, lost_b2) = await _battle(sm, visitor, age_s=60)
    async with sm() as session:
        await job_store.begin_attempt(session, str(lost_running), "w-dead")
        for _ in range(3):
            await job_store.begin_attempt(session, str(worn_out), "w-dead")
        # begin_attempt refreshed their clock: age them again, as a crash long ago would.
        await session.execute(update(Generation).where(
            Generation.id.in_([lost_running, worn_out])
        ).values(status_at=utcnow() - timedelta(seconds=60)))
        await session.commit()
    await queue.enqueue(MODELS[0], str(held))
    # Only the alpha side is swept here (a worker sweeps its own model).
    report = await sweep(queue, sm, MODELS[0], grace_s=10, max_attempts=3)
    assert (report.requeued, report.failed) == (1, 1)
    assert await queue.held(MODELS[0]) == {str(held), str(lost_queued)}
    assert (await _generation(sm, worn_out)).status == "failed"
    assert (await _generation(sm, fresh)).status == "queued"
    assert await queue.try_lock(f"sweep:{MODELS[0]}", 1) is False  # one sweep at a time

    beta = await sweep(queue, sm, MODELS[1], grace_s=10, max_attempts=3)
    assert beta.requeued == 3
    assert await queue.held(MODELS[1]) == {str(g) for g in (lost_running, lost_b1, lost_b2)}
    assert (await _generation(sm, fresh_b)).status == "queued"
    gen = await _generation(sm, lost_running)
    assert gen.status == "queued"
    assert await _attempts(sm, lost_running) == [(1, "w-dead", "superseded")]


async def _loaded(sm: async_sessionmaker, battle_id: uuid.UUID) -> Battle:
    async with sm() as session:
        battle = await load_battle(session, battle_id)
        assert battle is not None
        return battle


async def test_vote_and_follow_up_at_once_exactly_one_wins(sm: async_sessionmaker) -> None:
    queue = await _queue_with_workers()
    visitor = await _visitor(sm)
    outcomes = []
    for _ in range(20):
        battle_id, _ = await _battle(sm, visitor, status="done")

        async def vote(battle_id: uuid.UUID = battle_id) -> str:
            async with sm() as session:
                battle = await load_battle(session, battle_id)
                await asyncio.sleep(0)
                await cast_vote(session, battle, visitor, "model_a", "h" * 64)  # type: ignore[arg-type]
                return "vote"

        async def follow_up(battle_id: uuid.UUID = battle_id) -> str:
            async with sm() as session:
                battle = await load_battle(session, battle_id)
                await asyncio.sleep(0)
                await add_turn(session, queue, battle, "And the colour?", LIMITS)  # type: ignore[arg-type]
                return "turn"

        results = await asyncio.gather(vote(), follow_up(), return_exceptions=True)
        won = [r for r in results if isinstance(r, str)]
        lost = [r for r in results if isinstance(r, BaseException)]
        assert len(won) == 1 and len(lost) == 1, results
        assert isinstance(lost[0], ArenaError) and lost[0].status == 409, lost[0]
        final = await _loaded(sm, battle_id)
        assert (final.vote is not None, len(final.turns) == 2) == (
            won == ["vote"], won == ["turn"])
        outcomes.append(won[0])
    assert len(outcomes) == 20


async def test_the_in_flight_cap_holds_for_concurrent_battles(sm: async_sessionmaker) -> None:
    """Two answers per battle, a cap of four: of three battles started at once, two run."""
    queue = await _queue_with_workers()
    visitor = await _visitor(sm)
    async with sm() as session:
        models = [await session.get(ModelEntry, n) for n in MODELS]

    async def start() -> Battle:
        async with sm() as session:
            return await create_battle(
                session, queue, visitor=visitor, ip_hash="h" * 64, image=None,
                prompt="What is shown?", mode="anonymous", models=models,  # type: ignore[arg-type]
                limits=LIMITS,
            )

    results = await asyncio.gather(start(), start(), start(), return_exceptions=True)
    refused = [r for r in results if isinstance(r, ArenaError)]
    assert len(refused) == 1 and refused[0].status == 429, results
    async with sm() as session:
        battles = (await session.scalars(
            select(Battle.id).where(Battle.visitor_id == visitor.id))).all()
    count = len(battles)
    assert count == 2


async def test_a_created_battle_is_answered_whole_without_a_second_read(
    sm: async_sessionmaker,
) -> None:
    """The create routes answer from the object create_battle returns (no read-back): it
    must show exactly what a fresh read of the database shows, in either mode."""
    queue = await _queue_with_workers()
    visitor = await _visitor(sm)
    async with sm() as session:
        models = [await session.get(ModelEntry, n) for n in MODELS]
    for mode in ("anonymous", "side_by_side"):
        async with sm() as session:
            created = await create_battle(
                session, queue, visitor=visitor, ip_hash="h" * 64, image=None,
                prompt="What is shown?", mode=mode, models=models,  # type: ignore[arg-type]
                limits=LIMITS,
            )
            answered = battle_view(created)  # in the creating session, as the route does
        async with sm() as session:
            fresh = battle_view(await load_battle(session, created.id))  # type: ignore[arg-type]
        assert answered == fresh
        assert len(fresh["turns"]) == 1 and {"a", "b"} <= fresh["turns"][0].keys()


async def test_a_double_submit_of_the_terms_records_one_consent(sm: async_sessionmaker) -> None:
    visitor = await _visitor(sm)

    async def accept() -> None:
        async with sm() as session:
            await record_consent(session, visitor.id, "2026-11-01", "h" * 64)

    await asyncio.gather(*(accept() for _ in range(5)))
    async with sm() as session:
        rows = (await session.scalars(select(Consent).where(Consent.visitor_id == visitor.id)))
        assert len(rows.all()) == 1
