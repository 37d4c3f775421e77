"""The embedded default (SQLite + in-process queue + workers inside the web process) runs
the same battle as the deployment path."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from app.db.models import Battle, Generation, Turn, Vote
from app.db.session import make_engine, make_sessionmaker
from tests.arena.stack import (
    ArenaStack,
    assert_streams_match_answers,
    consented_client,
    create_battle,
    embedded_stack,
    png_bytes,
    read_sse,
)

MODELS = ["tiny-alpha", "tiny-beta"]


@pytest.fixture(scope="module")
def embedded(models_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArenaStack]:
    data = tmp_path_factory.mktemp("embedded")
    s = embedded_stack(models_file, data, ARENA_BATTLES_PER_VISITOR="4/hour")
    try:
        s.start_web("--embedded-workers")
        s.wait_models_online(MODELS)
        yield s
    finally:
        s.stop()


def test_embedded_battle_end_to_end(embedded: ArenaStack) -> None:
    client = consented_client(embedded.url)
    battle = create_battle(client)
    assert battle["models"] is None

    raw: list[bytes] = []
    path = f"/api/battles/{battle['id']}/stream"
    first = read_sse(client, path, stop_after=2, raw=raw)
    rest = read_sse(client, path, last_event_id=first[-1].id, raw=raw)
    assert_streams_match_answers(first + rest)
    assert rest[-1].data == {"can_vote": True, "failed": False}
    before_vote = b"\n".join(raw) + client.get(f"/battle/{battle['id']}").content
    for name in MODELS:
        assert name.encode() not in before_vote

    r = client.post(f"/api/battles/{battle['id']}/turns", json={"prompt": "Tell me more."})
    assert r.status_code == 201
    read_sse(client, path + "?turn=1")
    voted = client.post(f"/api/battles/{battle['id']}/vote", json={"winner": "tie"})
    assert voted.status_code == 200
    assert {voted.json()["models"]["a"], voted.json()["models"]["b"]} == set(MODELS)
    assert client.post(f"/api/battles/{battle['id']}/vote",
                       json={"winner": "tie"}).status_code == 409

    async def rows():  # type: ignore[no-untyped-def]
        engine = make_engine(embedded.env["ARENA_DATABASE_URL"])
        try:
            async with make_sessionmaker(engine)() as session:
                bid = uuid.UUID(battle["id"])
                gens = (await session.scalars(
                    select(Generation).join(Turn).where(Turn.battle_id == bid)
                )).all()
                vote = await session.get(Vote, bid)
                return gens, vote
        finally:
            await engine.dispose()

    gens, vote = asyncio.run(rows())
    assert len(gens) == 4 and all(g.status == "done" and g.text for g in gens)
    assert vote is not None and vote.winner == "tie" and vote.anonymous


def test_embedded_direct_chat_and_named_comparison(embedded: ArenaStack) -> None:
    client = consented_client(embedded.url)
    chat = create_battle(client, mode="direct", model_a="tiny-beta")
    assert chat["models"] == {"a": "tiny-beta", "b": None}
    events = read_sse(client, f"/api/battles/{chat['id']}/stream")
    assert {e.event for e in events} == {"a", "end"}
    assert events[-1].data["can_vote"] is False
    r = client.post(f"/api/battles/{chat['id']}/vote", json={"winner": "model_a"})
    assert r.status_code == 409

    named = create_battle(client, mode="side_by_side", model_a="tiny-alpha",
                          model_b="tiny-beta")
    assert named["models"] == {"a": "tiny-alpha", "b": "tiny-beta"}
    read_sse(client, f"/api/battles/{named['id']}/stream")
    voted = client.post(f"/api/battles/{named['id']}/vote", json={"winner": "model_b"})
    assert voted.status_code == 200

    same = client.post(
        "/api/battles",
        files={"image": ("a.png", png_bytes(), "image/png")},
        data={"prompt": "x", "mode": "side_by_side", "model_a": "tiny-alpha",
              "model_b": "tiny-alpha"},
    )
    assert same.status_code == 422 and "different" in same.json()["detail"]


def _battle_row(embedded: ArenaStack, battle_id: str):  # type: ignore[no-untyped-def]
    async def run():  # type: ignore[no-untyped-def]
        engine = make_engine(embedded.env["ARENA_DATABASE_URL"])
        try:
            async with make_sessionmaker(engine)() as session:
                return await session.get(Battle, uuid.UUID(battle_id))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_moderation_gate_refuses_or_flags_before_any_model_runs(embedded: ArenaStack) -> None:
    client = consented_client(embedded.url)
    r = client.post(
        "/api/battles",
        files={"image": ("a.png", png_bytes(), "image/png")},
        data={"prompt": "You are a fucking idiot, shut up"},
    )
    assert r.status_code == 422
    assert "rephrase" in r.json()["detail"] and "idiot" not in r.json()["detail"]

    flagged = create_battle(client, "Email the answer to jane.doe@example.com please")
    row = _battle_row(embedded, flagged["id"])
    assert row.review_status == "review"
    assert "EMAIL_ADDRESS" in row.moderation["prompt"]["pii_kinds"]
    assert row.moderation["image"]["decision"] == "allow" and row.language == "en"
    read_sse(client, f"/api/battles/{flagged['id']}/stream")
    deadline = time.monotonic() + 30  # answers are screened just after they are saved
    while not {"answer_0_a", "answer_0_b"} <= set(row.moderation):
        assert time.monotonic() < deadline, row.moderation
        time.sleep(0.2)
        row = _battle_row(embedded, flagged["id"])


def test_battle_rate_limit_says_when_to_come_back(embedded: ArenaStack) -> None:
    client = consented_client(embedded.url)
    for _ in range(4):  # ARENA_BATTLES_PER_VISITOR=4/hour for this stack
        battle = create_battle(client)
        read_sse(client, f"/api/battles/{battle['id']}/stream")
    r = client.post("/api/battles", files={"image": ("a.png", png_bytes(), "image/png")},
                    data={"prompt": "one more"})
    assert r.status_code == 429
    assert "come back in" in r.json()["detail"] and int(r.headers["Retry-After"]) > 60
    page = client.post("/battles", files={"image": ("a.png", png_bytes(), "image/png")},
                       data={"prompt": "one more", "mode": "anonymous"},
                       headers={"HX-Request": "true"})
    assert page.status_code == 429 and "come back in" in page.text
    assert page.headers["HX-Retarget"] == "#errors"
