"""The embedded default (SQLite + in-process queue + workers inside the web process) runs
the same battle as the deployment path."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from app.db.models import Generation, Turn, Vote
from app.db.session import make_engine, make_sessionmaker
from tests.arena.stack import (
    ArenaStack,
    answers_from,
    consented_client,
    create_battle,
    png_bytes,
    read_sse,
)
from tests.conftest import free_port

MODELS = ["tiny-alpha", "tiny-beta"]


@pytest.fixture(scope="module")
def embedded(models_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArenaStack]:
    data = tmp_path_factory.mktemp("embedded")
    s = ArenaStack(
        env={
            "ARENA_DATABASE_URL": f"sqlite+aiosqlite:///{data / 'arena.db'}",
            "ARENA_REDIS_URL": "",
            "ARENA_DATA_DIR": str(data),
            "ARENA_MODELS_FILE": str(models_file),
        },
        port=free_port(),
        log_dir=data,
    )
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
    texts = answers_from(first + rest)
    assert rest[-1].data == {"can_vote": True, "failed": False}
    for side in "ab":
        assert texts["streamed"].get(side, "") == texts["final"][side]
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
