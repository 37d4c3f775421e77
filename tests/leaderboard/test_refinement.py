"""Refinement over the JSON API and on the leaderboard, on PostgreSQL.

The API: feedback and ratings refused with a clear 4xx that writes nothing (empty,
over-long, another visitor's battle, while the answers stream, a battle already voted,
ratings out of range or repeated), two submissions at once make one refinement turn, and a
refinement battle is voted on only after its refinement. The leaderboard: refinement
votes are on the "refinement" board and out of every other one, unless the operator
includes them (ARENA_LEADERBOARD_INCLUDE_REFINEMENT).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.arena.refinement import FEEDBACK_MAX_CHARS
from app.arena.rules import REFINEMENT_VOTE_FIRST
from app.db.models import Battle, Generation, Turn
from app.leaderboard.cleaning import CleaningParams
from app.leaderboard.compute import (
    OVERALL,
    REFINEMENT_LABEL,
    REFINEMENT_SLICE,
    LeaderboardParams,
)
from app.leaderboard.pipeline import compute_run, run_leaderboard
from tests.arena.stack import png_bytes
from tests.leaderboard.conftest import running_app
from tests.leaderboard.simulate import (
    DAY,
    STRENGTHS,
    add_visitors,
    insert_battles,
    random_battles,
)
from tests.leaderboard.test_vote_reasons import finished_battle, visitor_client


@pytest.fixture(scope="module")
async def app(
    lb_pg_url: str, lb_models_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FastAPI]:
    async with running_app(lb_pg_url, lb_models_file, tmp_path_factory.mktemp("refine-data"),
                           "refine", live_models=True) as app:
        yield app


async def refinement_battle(sm: async_sessionmaker, visitor: uuid.UUID) -> str:
    """A refinement battle of `visitor` whose first answers are done."""
    bid = await finished_battle(sm, visitor, "alpha-vl", "beta-vl")
    async with sm() as session:
        await session.execute(update(Battle).where(Battle.id == uuid.UUID(bid))
                              .values(refinement=True))
        await session.commit()
    return bid


async def finish_latest(sm: async_sessionmaker, bid: str) -> None:
    """What the workers do: the latest turn's answers are done."""
    async with sm() as session:
        turn_id = await session.scalar(select(Turn.id).where(Turn.battle_id == uuid.UUID(bid))
                                       .order_by(Turn.index.desc()).limit(1))
        await session.execute(update(Generation).where(Generation.turn_id == turn_id)
                              .values(status="done", text="Refined."))
        await session.commit()


async def stored(sm: async_sessionmaker, bid: str) -> tuple[list[str], list[int | None]]:
    """(turn kinds, every rating in turn and side order) as the database has them."""
    async with sm() as session:
        kinds = (await session.scalars(select(Turn.kind).where(Turn.battle_id == uuid.UUID(bid))
                                       .order_by(Turn.index))).all()
        ratings = (await session.scalars(
            select(Generation.rating).join(Turn).where(Turn.battle_id == uuid.UUID(bid))
            .order_by(Turn.index, Generation.side))).all()
    return list(kinds), list(ratings)


async def test_feedback_and_ratings_over_the_api(app: FastAPI) -> None:
    sm: async_sessionmaker = app.state.arena.sessionmaker
    voter, vid = await visitor_client(app)
    other, _ = await visitor_client(app)
    bid = await refinement_battle(sm, vid)
    refine, rate, vote = (f"/api/battles/{bid}/{p}" for p in ("refinements", "ratings", "vote"))

    shown = (await voter.get(f"/api/battles/{bid}")).json()
    assert shown["refinement"] is True and shown["can_vote"] is False
    r = await voter.post(vote, json={"winner": "model_a"})
    assert r.status_code == 409 and r.json()["detail"] == REFINEMENT_VOTE_FIRST

    bad = [
        ({"feedback": ""}, 422),
        ({"feedback": "   \n "}, 422),
        ({"feedback": "x" * (FEEDBACK_MAX_CHARS + 1)}, 422),
        ({"feedback": "bad\x00byte"}, 422),
        ({"feedback": 7}, 422),
        ({}, 422),
        ({"feedback": "ok", "rating_a": 11}, 422),
        ({"feedback": "ok", "rating_a": 0}, 422),
        ({"feedback": "ok", "rating_b": "7"}, 422),  # a string is not a rating in JSON
        ({"feedback": "ok", "rating_b": True}, 422),
    ]
    for body, status in bad:
        r = await voter.post(refine, json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["detail"]
    # Someone else's battle, or none: the same 404.
    assert (await other.post(refine, json={"feedback": "ok"})).status_code == 404
    assert (await voter.post(f"/api/battles/{uuid.uuid4()}/refinements",
                             json={"feedback": "ok"})).status_code == 404
    assert await stored(sm, bid) == (["question"], [None, None])

    r = await voter.post(refine, json={"feedback": "  The count is wrong.  ", "rating_a": 4})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["names"] == "hidden" and body["can_vote"] is False
    assert [(t["kind"], t["refines"], t["prompt"]) for t in body["turns"]] == [
        ("question", None, "What is in picture " + bid.replace("-", "")[:8] + "?"),
        ("refinement", 0, "The count is wrong."),
    ]
    assert (body["turns"][0]["a"]["rating"], body["turns"][0]["b"]["rating"]) == (4, None)
    # While the refined answers are written: no more feedback, no rating, no vote.
    r = await voter.post(refine, json={"feedback": "More."})
    assert r.status_code == 409 and "wait" in r.json()["detail"]
    assert (await voter.post(rate, json={"turn": 1, "a": 9})).status_code == 409
    assert (await voter.post(vote, json={"winner": "model_a"})).status_code == 409

    await finish_latest(sm, bid)
    for body, status in [({"turn": 1, "a": 11}, 422), ({"turn": 1}, 422),
                         ({"turn": 0, "b": 5}, 409),  # the "before" turn is past
                         ({"turn": 5, "a": 5}, 404), ({"turn": -1, "a": 5}, 422)]:
        r = await voter.post(rate, json=body)
        assert r.status_code == status, (body, r.text)
    assert (await other.post(rate, json={"turn": 1, "a": 9})).status_code == 404
    r = await voter.post(rate, json={"turn": 1, "a": 9, "b": 3})
    assert r.status_code == 200 and r.json()["can_rate"] is False
    r = await voter.post(rate, json={"turn": 1, "a": 1})
    assert r.status_code == 409 and r.json()["detail"] == "These answers were already rated."
    assert await stored(sm, bid) == (["question", "refinement"], [4, None, 9, 3])

    r = await voter.post(vote, json={"winner": "model_a"})
    assert r.status_code == 200 and r.json()["names"] == "revealed"
    r = await voter.post(refine, json={"feedback": "After the vote."})
    assert r.status_code == 409 and "over" in r.json()["detail"]
    assert (await voter.post(rate, json={"turn": 1, "b": 5})).status_code == 409
    assert await stored(sm, bid) == (["question", "refinement"], [4, None, 9, 3])
    await voter.aclose()
    await other.aclose()


async def test_a_refinement_battle_is_anonymous(app: FastAPI) -> None:
    """Asked for in a named mode: a 422 before anything is stored (no battle, no image)."""
    sm: async_sessionmaker = app.state.arena.sessionmaker
    voter, _ = await visitor_client(app)
    blobs = Path(app.state.arena.settings.blobs_path)

    def stored_blobs() -> list[Path]:
        return sorted(blobs.rglob("*")) if blobs.exists() else []

    before = await asyncio.to_thread(stored_blobs)
    async with sm() as session:
        battles = await session.scalar(select(func.count()).select_from(Battle))
    for mode, extra in (("side_by_side", {"model_a": "alpha-vl", "model_b": "beta-vl"}),
                        ("direct", {"model_a": "alpha-vl"})):
        r = await voter.post("/api/battles", files={"image": ("p.png", png_bytes(), "image/png")},
                             data={"prompt": "What is it?", "mode": mode, "refinement": "true",
                                   **extra})
        assert r.status_code == 422 and r.json()["detail"] == (
            "A refinement battle is an anonymous battle."), r.text
    async with sm() as session:
        assert await session.scalar(select(func.count()).select_from(Battle)) == battles
    assert await asyncio.to_thread(stored_blobs) == before
    r = await voter.post("/api/battles", files={"image": ("p.png", png_bytes(), "image/png")},
                         data={"prompt": "What is it?", "refinement": "true"})
    assert r.status_code == 201, r.text
    assert r.json()["refinement"] is True and r.json()["can_vote"] is False
    await voter.aclose()


async def test_two_feedbacks_at_once_make_one_turn(app: FastAPI) -> None:
    sm: async_sessionmaker = app.state.arena.sessionmaker
    voter, vid = await visitor_client(app)
    bid = await refinement_battle(sm, vid)
    results = await asyncio.gather(*(
        voter.post(f"/api/battles/{bid}/refinements", json={"feedback": f"Try {k}.",
                                                            "rating_b": 6})
        for k in range(4)))
    assert sorted(r.status_code for r in results) == [201, 409, 409, 409]
    kinds, ratings = await stored(sm, bid)
    assert kinds == ["question", "refinement"] and ratings == [None, 6, None, None]
    async with sm() as session:
        gens = await session.scalar(select(func.count()).select_from(Generation).join(Turn)
                                    .where(Turn.battle_id == uuid.UUID(bid)))
    assert gens == 4
    await voter.aclose()


async def test_refinement_votes_have_their_own_board(app: FastAPI) -> None:
    """Ordinary votes follow STRENGTHS (alpha best); refinement votes say the opposite
    (the weaker model always used the feedback better). The default board never counts
    them; the refinement board holds exactly them; the operator's setting adds them to
    every board. The page and /api/leaderboard serve the refinement board."""
    sm: async_sessionmaker = app.state.arena.sessionmaker
    start = DAY - timedelta(days=30)  # before the other tests' votes (cast now)
    async with sm() as session:
        visitors = await add_visitors(session, 40)
        plain = random_battles(80, seed=11, visitors=visitors, start=start)
        refined = random_battles(30, seed=12, visitors=visitors,
                                 start=start + timedelta(hours=3))
        order = sorted(STRENGTHS, key=STRENGTHS.__getitem__)  # weakest first
        for spec in refined:
            spec.refinement = True
            weaker_is_a = order.index(spec.model_a) < order.index(spec.model_b)
            spec.winner = "model_a" if weaker_is_a else "model_b"
        await insert_battles(session, [*plain, *refined])
    cutoff = start + timedelta(days=1)

    included = LeaderboardParams(n_bootstrap=10, min_slice_votes=10,
                                 cleaning=CleaningParams(include_refinement=True))
    run = await compute_run(sm, cutoff=cutoff, params=included)  # not stored
    assert run.board("default", OVERALL).n_battles == len(plain) + len(refined)  # type: ignore[union-attr]
    assert run.board("default", REFINEMENT_SLICE).n_battles == len(refined)  # type: ignore[union-attr]
    assert run.refinement == []

    # The default (run last: the stored snapshot the page shows).
    _, run = await run_leaderboard(sm, cutoff=cutoff,
                                   params=LeaderboardParams(n_bootstrap=10, min_slice_votes=10))
    assert {str(b.battle_id) for b in run.kept} == {str(s.battle_id) for s in plain}
    assert {str(b.battle_id) for b in run.refinement} == {str(s.battle_id) for s in refined}
    rule = next(r for r in run.cleaning["rules"] if r["rule"] == "refinement")
    assert rule["dropped"] == len(refined)
    slices = {b.slice: b.n_battles for b in run.boards if b.kind == "default"}
    assert slices[OVERALL] == len(plain) and slices[REFINEMENT_SLICE] == len(refined)
    assert {"category:ocr", "category:captioning", "multi_turn"} & set(slices)
    # Every other board counts plain battles only (each is a subset of them).
    plain_ocr = sum(1 for s in plain if "ocr" in s.categories)
    assert slices["category:ocr"] == plain_ocr
    assert "multi_turn" not in slices  # refinement battles have two turns; none counted
    for kind in ("default", "style"):
        assert run.board(kind, REFINEMENT_SLICE).n_battles == len(refined)  # type: ignore[union-attr]
    overall, refinement = run.board("default", OVERALL), run.board("default", REFINEMENT_SLICE)
    assert overall is not None and refinement is not None
    assert overall.payload["models"][0] == "alpha-vl"
    assert refinement.payload["models"][0] == "delta-vl"

    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    default = (await client.get("/api/leaderboard")).json()
    board = (await client.get("/api/leaderboard", params={"slice": REFINEMENT_SLICE})).json()
    assert default["snapshot"]["battles_used"] == len(plain)
    assert board["snapshot"]["battles_used"] == len(refined)
    assert REFINEMENT_SLICE in default["slices"]
    assert board["rows"][0]["model"] == "delta-vl" and default["rows"][0]["model"] == "alpha-vl"
    page = await client.get("/leaderboard", params={"slice": REFINEMENT_SLICE})
    assert page.status_code == 200 and REFINEMENT_LABEL in page.text
    assert REFINEMENT_LABEL in (await client.get("/leaderboard")).text  # in the selector
    await client.aclose()
