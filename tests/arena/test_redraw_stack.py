"""The first-turn re-draw on the real stack: uvicorn, worker processes, Redis Streams,
PostgreSQL, and a model whose endpoint is unreachable (the OpenAI backend pointed at a
closed port: a real failure, not a mock). The battle gets a replacement side, both answers
finish, the battle can be voted on, and the replaced model is recorded in the battle and
the audit log but not on the vote."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from app.db.admin_tables import AuditLog
from app.db.models import Battle, Generation, GenerationAttempt, Turn, Vote
from tests.arena.stack import (
    ArenaStack,
    answers_from,
    assert_streams_match_answers,
    consented_client,
    create_battle,
    db_query,
    frozen,
    read_sse,
    services_stack,
)
from tests.conftest import free_port

GOOD = ["tiny-alpha", "tiny-beta"]
BROKEN = "tiny-unreachable"


@pytest.fixture(scope="module")
def stack(
    pg_url: str,
    redis_url: str,
    redis_prefix: str,
    models_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ArenaStack]:
    data = tmp_path_factory.mktemp("redraw-data")
    registry = yaml.safe_load(models_file.read_text())
    for entry in registry["models"]:
        entry["weight"] = 1.0
    # Drawn in practically every battle (weight), and its endpoint is a closed port.
    registry["models"].append(
        {
            "name": BROKEN,
            "backend": "openai",
            "max_new_tokens": 8,
            "weight": 1_000_000.0,
            "options": {
                "base_url": f"http://127.0.0.1:{free_port()}/v1",
                "max_retries": 0,
                "timeout": 2,
            },
        }
    )
    (data / "models.yaml").write_text(yaml.safe_dump(registry))
    s = services_stack(
        pg_url,
        redis_url,
        redis_prefix + "rd:",
        data / "models.yaml",
        data,
        ARENA_LEASE_MS="3000",
        ARENA_MAX_ATTEMPTS="2",
        ARENA_SSE_PING_S="1",
    )
    try:
        s.start_web()
        for model in [*GOOD, BROKEN]:
            s.start_worker(f"w-{model}", model)
        s.wait_models_online([*GOOD, BROKEN])
        yield s
    finally:
        s.stop()


def test_an_unreachable_first_turn_side_is_redrawn_and_the_battle_voted(
    stack: ArenaStack, pg_url: str
) -> None:
    client = consented_client(stack.url)
    raw: list[bytes] = []
    with frozen(stack, [f"w-{model}" for model in [*GOOD, BROKEN]]) as resume:
        battle = create_battle(client, prompt="What colour is the image?")
        events = read_sse(client, f"/api/battles/{battle['id']}/stream", raw=raw,
                          timeout=180, on_open=resume)
    assert events[-1].event == "end" and events[-1].data == {"can_vote": True, "failed": False}
    # The failed side was reset (for the broken model's retry, then for the re-draw) and
    # then streamed the new model's answer; no error shown, the other side untouched.
    resets = [e.event for e in events if e.data.get("type") == "reset"]
    assert resets and len(set(resets)) == 1, events
    assert not [e for e in events if e.data.get("type") == "error"]
    final = assert_streams_match_answers(events)
    assert answers_from(events)["final"] == final

    view = client.get(f"/api/battles/{battle['id']}")
    page = client.get(f"/battle/{battle['id']}")
    seen = b"\n".join([*raw, view.content, page.content, str(view.headers).encode()])
    for name in [*GOOD, BROKEN]:  # still anonymous: nothing tells what happened
        assert name.encode() not in seen
    assert view.json()["can_vote"] is True and view.json()["models"] is None

    voted = client.post(f"/api/battles/{battle['id']}/vote", json={"winner": "tie"})
    assert voted.status_code == 200, voted.text
    models = voted.json()["models"]
    assert sorted([models["a"], models["b"]]) == GOOD  # the replacement, and the other side

    bid = uuid.UUID(battle["id"])

    async def stored(session):  # type: ignore[no-untyped-def]
        b = await session.get(Battle, bid)
        gens = (
            await session.scalars(select(Generation).join(Turn).where(Turn.battle_id == bid))
        ).all()
        attempts = (
            await session.execute(
                select(GenerationAttempt.generation_id, GenerationAttempt.outcome).where(
                    GenerationAttempt.generation_id.in_([g.id for g in gens])
                )
            )
        ).all()
        audit = (
            await session.scalars(select(AuditLog).where(AuditLog.target == f"battle:{bid}"))
        ).all()
        vote = await session.get(Vote, bid)
        return b, gens, attempts, audit, vote

    b, gens, attempts, audit, vote = db_query(pg_url, stored)
    side = resets[0]
    assert [(r["side"], r["model"], r["attempts"]) for r in b.redraws] == [(side, BROKEN, 2)]
    assert "Connect" in b.redraws[0]["error"]
    assert {b.model_a, b.model_b} == set(GOOD)
    redrawn = next(g for g in gens if g.side == side)
    assert redrawn.status == "done" and redrawn.model in GOOD and redrawn.attempts_base == 2
    assert redrawn.attempts == 3 and redrawn.text == final[side]
    outcomes = sorted(o for gid, o in attempts if gid == redrawn.id)
    assert outcomes == ["done", "failed", "requeued"]
    assert [(a.action, a.before["model"]) for a in audit] == [("battle.redraw", BROKEN)]
    # The vote names no model; the replaced one is not among the battle's models.
    assert vote is not None and vote.winner == "tie" and BROKEN not in (b.model_a, b.model_b)
