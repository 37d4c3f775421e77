"""Vote reasons on PostgreSQL: given once after the vote, by the voter; bad input is a clear
4xx that changes nothing; they reach the export and the leaderboard's per-model summary."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.arena.reasons import COMMENT_MAX_CHARS, TAG_NAMES
from app.db.models import Battle, Consent, Generation, Turn, Vote
from app.leaderboard.compute import LeaderboardParams
from app.leaderboard.pipeline import run_leaderboard
from app.web.schemas import ReasonsIn
from tests.leaderboard.conftest import running_app
from workers.export import export_date

PARAMS = LeaderboardParams(n_bootstrap=20, min_slice_votes=10**9)


@pytest.fixture(scope="module")
async def app(
    lb_pg_url: str, lb_models_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FastAPI]:
    async with running_app(lb_pg_url, lb_models_file, tmp_path_factory.mktemp("reasons-data"),
                           "reasons") as app:
        yield app


async def visitor_client(app: FastAPI) -> tuple[httpx.AsyncClient, uuid.UUID]:
    """A consented visitor (its own cookie jar) and its id."""
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    r = await client.post("/api/consent", json={"accept": True})
    assert r.status_code == 200, r.text
    sm: async_sessionmaker = app.state.arena.sessionmaker
    async with sm() as session:
        vid = await session.scalar(
            select(Consent.visitor_id).order_by(Consent.accepted_at.desc()).limit(1)
        )
    assert vid is not None
    return client, vid


async def finished_battle(sm: async_sessionmaker, visitor: uuid.UUID, a: str, b: str) -> str:
    """An anonymous battle of `visitor` whose two answers are done (no vote yet)."""
    battle = Battle(
        id=uuid.uuid4(),
        visitor_id=visitor,
        mode="anonymous",
        model_a=a,
        model_b=b,
        ip_hash="x" * 64,
        language="en",
    )
    turn = Turn(battle=battle, index=0, prompt=f"What is in picture {battle.id.hex[:8]}?")
    for side, model in (("a", a), ("b", b)):
        Generation(
            turn=turn,
            side=side,
            model=model,
            status="done",
            text=f"An answer from side {side}.",
            completion_tokens=6,
            ttft_ms=120.0,
            latency_ms=620.0,
        )
    async with sm() as session:
        session.add(battle)
        await session.commit()
    return str(battle.id)


async def stored_vote(sm: async_sessionmaker, battle_id: str) -> Vote | None:
    async with sm() as session:
        return await session.get(Vote, uuid.UUID(battle_id))


def test_the_schema_vocabulary_is_the_reasons_module() -> None:
    tags = ReasonsIn.model_json_schema()["properties"]["a"]["items"]["enum"]
    assert tuple(tags) == TAG_NAMES


async def test_reasons_rules_bad_input_and_round_trip_to_export(
    app: FastAPI, tmp_path: Path
) -> None:
    sm: async_sessionmaker = app.state.arena.sessionmaker
    voter, vid = await visitor_client(app)
    other, _ = await visitor_client(app)
    first = await finished_battle(sm, vid, "alpha-vl", "beta-vl")
    second = await finished_battle(sm, vid, "gamma-vl", "alpha-vl")
    third = await finished_battle(sm, vid, "beta-vl", "delta-vl")
    url = f"/api/battles/{first}/reasons"
    good = {
        "a": ["well_formatted", "correct"],
        "b": ["wrong_about_image", "too_long"],
        "comment": "  <script>alert(1)</script> A saw the <b>red</b> circle  ",
    }

    # Before the vote: refused, nothing stored.
    r = await voter.post(url, json=good)
    assert r.status_code == 409 and "Vote first" in r.json()["detail"]
    assert (
        await voter.post(f"/api/battles/{first}/vote", json={"winner": "model_a"})
    ).status_code == 200
    shown = (await voter.get(f"/api/battles/{first}")).json()
    assert shown["can_give_reasons"] is True and shown["vote"]["reasons"] is None

    bad = [
        ({"a": ["brilliant"]}, 422),  # unknown tag
        ({"a": "correct"}, 422),  # wrong type: not a list
        ({"b": [7]}, 422),
        ({"comment": 5}, 422),
        ({"comment": "x" * (COMMENT_MAX_CHARS + 1)}, 422),  # too long once trimmed
        ({"comment": "bad\x00byte"}, 422),  # NUL
        ({"comment": "bell\x07"}, 422),  # other control characters
        ({"a": ["correct", "correct"]}, 422),  # repeated tag
        ({}, 422),  # nothing to store
        ({"a": [], "b": [], "comment": "   "}, 422),
    ]
    for body, status in bad:
        r = await voter.post(url, json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["detail"]
    r = await voter.post(url, content=b"\xff\xfe", headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500
    # Someone else's battle: the same 404 as a missing one.
    assert (await other.post(url, json=good)).status_code == 404
    assert (await voter.post(f"/api/battles/{uuid.uuid4()}/reasons", json=good)).status_code == 404
    vote = await stored_vote(sm, first)
    assert vote is not None and vote.reasons_at is None and vote.reason_tags is None

    r = await voter.post(url, json=good)
    assert r.status_code == 200, r.text
    reasons = r.json()["vote"]["reasons"]
    assert reasons == {
        "a": ["correct", "well_formatted"],  # vocabulary order
        "b": ["wrong_about_image", "too_long"],
        "comment": "<script>alert(1)</script> A saw the <b>red</b> circle",
    }
    assert r.json()["can_give_reasons"] is False
    # Once: a second submission is refused and changes nothing.
    again = await voter.post(url, json={"a": ["helpful"]})
    assert again.status_code == 409
    vote = await stored_vote(sm, first)
    assert vote is not None and vote.reason_tags == {
        "a": ["correct", "well_formatted"],
        "b": ["wrong_about_image", "too_long"],
    }
    # The page shows them as text, never as markup.
    page = (await voter.get(f"/battle/{first}")).text
    assert "Your reasons" in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in page and "<b>red</b>" not in page
    assert 'id="reasons-form"' not in page

    # The page's form: vote, the form appears, checkboxes are posted as repeated fields.
    voted = await voter.post(f"/battle/{second}/vote", data={"winner": "model_b"})
    assert voted.status_code == 200 and 'id="reasons-form"' in voted.text
    r = await voter.post(f"/battle/{second}/reasons", data={"a": ["nonsense"]})
    assert r.status_code == 422 and "Unknown reason" in r.text
    r = await voter.post(
        f"/battle/{second}/reasons",
        data={"a": ["incomplete"], "b": ["helpful", "correct"], "comment": ""},
    )
    assert r.status_code == 200 and "Your reasons" in r.text
    assert (
        await voter.post(f"/battle/{second}/reasons", data={"a": ["refused"]})
    ).status_code == 409

    # Two submissions at once: exactly one is stored.
    assert (
        await voter.post(f"/api/battles/{third}/vote", json={"winner": "tie"})
    ).status_code == 200
    results = await asyncio.gather(
        *(
            voter.post(f"/api/battles/{third}/reasons", json={"b": [tag]})
            for tag in ("refused", "incomplete")
        )
    )
    assert sorted(r.status_code for r in results) == [200, 409]
    stored = await stored_vote(sm, third)
    winner_tag = next(r for r in results if r.status_code == 200).json()["vote"]["reasons"]
    assert stored is not None and stored.reason_tags == {"a": [], "b": winner_tag["b"]}

    # The export carries them; a vote without reasons has none.
    voteless = await finished_battle(sm, vid, "delta-vl", "gamma-vl")
    assert (
        await voter.post(f"/api/battles/{voteless}/vote", json={"winner": "model_a"})
    ).status_code == 200
    out = await export_date(sm, datetime.now(UTC).date(), tmp_path / "exports", params=PARAMS)
    rows = {r["question_id"]: r for r in pq.read_table(out.out_dir / "battles.parquet").to_pylist()}
    assert rows[uuid.UUID(first).hex]["vote_reasons"] == {
        "tags_a": ["correct", "well_formatted"],
        "tags_b": ["wrong_about_image", "too_long"],
        "comment": "<script>alert(1)</script> A saw the <b>red</b> circle",
    }
    assert rows[uuid.UUID(second).hex]["vote_reasons"] == {
        "tags_a": ["incomplete"],
        "tags_b": ["correct", "helpful"],
        "comment": None,
    }
    assert rows[uuid.UUID(voteless).hex]["vote_reasons"] is None

    # The leaderboard summarises them per model (read from the stored snapshot).
    await run_leaderboard(sm, params=PARAMS)
    api = (await voter.get("/api/leaderboard")).json()
    assert api["reasons"]["alpha-vl"] == {
        "battles": 2,
        "tags": {"correct": 2, "helpful": 1, "well_formatted": 1},
    }
    assert api["reasons"]["beta-vl"]["tags"] == {"wrong_about_image": 1, "too_long": 1}
    assert api["reasons"]["gamma-vl"] == {"battles": 1, "tags": {"incomplete": 1}}
    board = (await voter.get("/leaderboard")).text
    assert 'id="lb-reasons"' in board and "Wrong about the image 1" in board
    await voter.aclose()
    await other.aclose()
