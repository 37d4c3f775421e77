"""The first-turn re-draw, against the real databases: the battle rules allow it only for
an anonymous battle's first turn, the transition is atomic (two workers, or a worker and
the sweeper, re-draw a side once), the fence still holds for the replaced model's late
writes, and the replaced model is recorded in the battle and the audit log."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.arena.rules import MAX_REDRAWS, redraw_refusal
from app.db.admin_tables import AuditLog
from app.db.models import Battle, Generation, Turn, Visitor, utcnow
from tests.arena.conftest import live_queue, seeded_sessionmaker
from workers import job_store
from workers.sweeper import sweep

MODELS = ("rd-alpha", "rd-beta", "rd-gamma")


@pytest.fixture
async def sm(db_url: str) -> AsyncIterator[async_sessionmaker]:
    async with seeded_sessionmaker(db_url, MODELS, max_new_tokens=17) as maker:
        yield maker





async def _battle(
    sm: async_sessionmaker,
    *,
    mode: str = "anonymous",
    turn_index: int = 0,
    attempts: int = 3,
    status: str = "running",
    age_s: float = 0.0,
) -> tuple[uuid.UUID, uuid.UUID]:
    """A battle rd-alpha (a) vs rd-beta (b) whose side a is on its last attempt."""
    async with sm() as session:
        visitor = Visitor(ip_hash="r" * 64)
        session.add(visitor)
        await session.flush()
        battle = Battle(
            visitor_id=visitor.id, mode=mode, model_a=MODELS[0], model_b=MODELS[1], ip_hash="r" * 64
        )
        turns = [Turn(battle=battle, index=i, prompt=f"q{i}") for i in range(turn_index + 1)]
        for t in turns[:-1]:
            for side, model in zip("ab", MODELS[:2], strict=True):
                t.generations.append(
                    Generation(side=side, model=model, status="done", text="earlier")
                )
        at = utcnow() - timedelta(seconds=age_s)
        gen = Generation(
            turn=turns[-1],
            side="a",
            model=MODELS[0],
            status=status,
            attempts=attempts,
            status_at=at,
        )
        Generation(turn=turns[-1], side="b", model=MODELS[1], status="done", text="fine")
        session.add(battle)
        await session.commit()
        return battle.id, gen.id


async def _state(sm: async_sessionmaker, bid: uuid.UUID, gid: uuid.UUID):  # type: ignore[no-untyped-def]
    async with sm() as session:
        battle = await session.get(Battle, bid, populate_existing=True)
        gen = await session.get(Generation, gid, populate_existing=True)
        audit = (
            await session.scalars(select(AuditLog).where(AuditLog.target == f"battle:{bid}"))
        ).all()
        return battle, gen, audit


def test_the_rule() -> None:
    assert redraw_refusal(mode="anonymous", turn_index=0, voted=False, redraws=0) is None
    assert redraw_refusal(mode="side_by_side", turn_index=0, voted=False, redraws=0)
    assert redraw_refusal(mode="direct", turn_index=0, voted=False, redraws=0)
    assert redraw_refusal(mode="anonymous", turn_index=1, voted=False, redraws=0)
    assert redraw_refusal(mode="anonymous", turn_index=0, voted=True, redraws=0)
    assert redraw_refusal(mode="anonymous", turn_index=0, voted=False, redraws=MAX_REDRAWS)


async def test_two_workers_redraw_a_failed_side_once(sm: async_sessionmaker) -> None:
    queue = await live_queue(*MODELS)
    bid, gid = await _battle(sm)

    async def fail() -> object:
        async with sm() as session:
            return await job_store.fail_or_redraw(session, queue, str(gid), 3, "ConnectError")

    results = await asyncio.gather(fail(), fail())
    won = [r for r in results if r is not None]
    assert len(won) == 1
    redrawn = won[0]
    # Not the failed model, not the other side's: the only one left.
    assert redrawn.new_model == "rd-gamma" and redrawn.old_model == "rd-alpha"  # type: ignore[attr-defined]
    battle, gen, audit = await _state(sm, bid, gid)
    assert battle.model_a == "rd-gamma" and battle.model_b == "rd-beta"
    assert [(r["side"], r["model"], r["attempts"]) for r in battle.redraws] == [
        ("a", "rd-alpha", 3)
    ]
    assert gen.model == "rd-gamma" and gen.status == "queued" and gen.attempts == 3
    assert gen.attempts_base == 3 and gen.params["max_new_tokens"] == 17
    assert [(a.action, a.before["model"], a.after["model"]) for a in audit] == [
        ("battle.redraw", "rd-alpha", "rd-gamma")
    ]

    # The replaced model's late write matches nothing; the new model starts at try 1.
    async with sm() as session:
        assert not await job_store.save_answer(
            session,
            str(gid),
            3,
            text="late",
            prompt_tokens=1,
            completion_tokens=1,
            finish_reason="stop",
            ttft_ms=None,
            latency_ms=1.0,
        )
    async with sm() as session:
        ctx = await job_store.begin_attempt(session, str(gid), "w-rd-gamma")
    assert ctx is not None and ctx.attempt == 4 and ctx.tries == 1


@pytest.mark.parametrize("case", ["named", "follow-up", "no-model-left", "limit"])
async def test_no_redraw_where_the_rules_refuse(sm: async_sessionmaker, case: str) -> None:
    queue = await live_queue(*(MODELS[:2] if case == "no-model-left" else MODELS))
    bid, gid = await _battle(
        sm,
        mode="side_by_side" if case == "named" else "anonymous",
        turn_index=1 if case == "follow-up" else 0,
    )
    if case == "limit":
        async with sm() as session:
            await session.execute(
                update(Battle)
                .where(Battle.id == bid)
                .values(redraws=[{"side": "a", "model": "x"}] * MAX_REDRAWS)
            )
            await session.commit()
    async with sm() as session:
        assert await job_store.fail_or_redraw(session, queue, str(gid), 3, "boom") is None
    async with sm() as session:
        assert await job_store.mark_failed(session, str(gid), 3, "boom")
    battle, gen, audit = await _state(sm, bid, gid)
    assert gen.status == "failed" and gen.model == "rd-alpha" and battle.model_a == "rd-alpha"
    assert audit == [] and version_unchanged(battle)


def version_unchanged(battle: Battle) -> bool:
    return battle.version == 0


async def test_the_sweeper_redraws_a_side_out_of_attempts(sm: async_sessionmaker) -> None:
    queue = await live_queue(*MODELS)
    bid, gid = await _battle(sm, age_s=60)  # its worker died on the last attempt
    report = await sweep(queue, sm, "rd-alpha", grace_s=10, max_attempts=3)
    assert report.redrawn == 1 and report.failed == 0
    battle, gen, _ = await _state(sm, bid, gid)
    assert gen.model == "rd-gamma" and gen.status == "queued" and battle.model_a == "rd-gamma"
    assert str(gid) in await queue.held("rd-gamma") or await queue.depth("rd-gamma") == 1
    # A second sweep of the old model finds nothing of it.
    assert (await sweep(queue, sm, "rd-alpha", grace_s=0, max_attempts=3)).redrawn == 0
