"""My battles on PostgreSQL: a visitor lists their own battles (names only after the
vote) and deletes them. Deleting is a tombstone: the battle and its vote leave the list,
the following export and (by default) the leaderboard, its image is no longer served,
the audit log keeps it, and the vote is still stored. Only the owner can delete; doing it
twice, or twice at once, is harmless."""

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

from app.db.admin_tables import AuditLog
from app.db.models import Battle, Vote
from app.leaderboard.cleaning import CleaningParams
from app.leaderboard.compute import LeaderboardParams
from app.leaderboard.pipeline import compute_run
from tests.arena.stack import png_bytes
from tests.leaderboard.conftest import running_app
from tests.leaderboard.test_presets import answer_everything
from workers.export import export_date

PARAMS = LeaderboardParams(n_bootstrap=20, min_slice_votes=10**9)


@pytest.fixture(scope="module")
async def app(
    lb_pg_url: str, lb_models_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FastAPI]:
    async with running_app(lb_pg_url, lb_models_file, tmp_path_factory.mktemp("mine-data"),
                           "my-battles", live_models=True) as app:
        yield app


async def visitor(app: FastAPI) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    assert (await client.post("/api/consent", json={"accept": True})).status_code == 200
    return client


async def battle(
    client: httpx.AsyncClient, sm: async_sessionmaker, color: tuple, prompt: str, winner: str | None
) -> dict:
    r = await client.post(
        "/api/battles",
        data={"prompt": prompt},
        files={"image": ("x.png", png_bytes(color), "image/png")},
    )
    assert r.status_code == 201, r.text
    await answer_everything(sm, r.json()["id"])
    if winner:
        voted = await client.post(f"/api/battles/{r.json()['id']}/vote", json={"winner": winner})
        assert voted.status_code == 200, voted.text
    return (await client.get(f"/api/battles/{r.json()['id']}")).json()


async def test_list_delete_tombstone_export_and_board(app: FastAPI, tmp_path: Path) -> None:
    sm: async_sessionmaker = app.state.arena.sessionmaker
    owner, other = await visitor(app), await visitor(app)
    kept = await battle(owner, sm, (1, 2, 3), "Which colour is kept?", "model_a")
    gone = await battle(owner, sm, (4, 5, 6), "Which colour goes?", "model_b")
    open_one = await battle(owner, sm, (7, 8, 9), "Not voted yet?", None)
    theirs = await battle(other, sm, (10, 11, 12), "Someone else's?", "tie")

    # The list: own battles only, newest first; names only where voted.
    listed = (await owner.get("/api/battles")).json()
    assert [b["id"] for b in listed] == [open_one["id"], gone["id"], kept["id"]]
    assert listed[0]["models"] is None and listed[1]["models"] is not None
    page = (await owner.get("/my-battles")).text
    assert 'href="/my-battles"' in (await owner.get("/")).text  # linked from the nav
    assert "Which colour goes?" in page and "Someone else" not in page
    assert gone["models"]["b"] in page and open_one["turns"][0]["prompt"] in page

    # Another visitor can not delete it (the same 404 as a missing battle).
    for client, bid in (
        (other, gone["id"]),
        (owner, theirs["id"]),
        (owner, str(uuid.uuid4())),
        (owner, "not-a-uuid"),
    ):
        refused = await client.delete(f"/api/battles/{bid}")
        assert refused.status_code == 404, refused.text
    assert (await other.post(f"/my-battles/{gone['id']}/delete")).status_code == 404

    image = f"/api/images/{gone['image']}"
    assert (await owner.get(image)).status_code == 200
    # Twice at once, then once more: the same answer each time, one tombstone.
    answers = await asyncio.gather(*(owner.delete(f"/api/battles/{gone['id']}") for _ in range(2)))
    answers.append(await owner.delete(f"/api/battles/{gone['id']}"))
    assert [(r.status_code, r.json()) for r in answers] == [
        (200, {"id": gone["id"], "deleted": True})
    ] * 3
    # The page's form deletes too, and sends the visitor back to the list.
    by_form = await owner.post(f"/my-battles/{open_one['id']}/delete")
    assert by_form.status_code == 303 and by_form.headers["location"] == "/my-battles"

    assert [b["id"] for b in (await owner.get("/api/battles")).json()] == [kept["id"]]
    assert "Which colour goes?" not in (await owner.get("/my-battles")).text
    assert (await owner.get(f"/api/battles/{gone['id']}")).status_code == 404
    assert (await owner.get(f"/battle/{gone['id']}")).status_code == 404
    assert (await owner.get(image)).status_code == 404
    assert (
        await owner.post(f"/api/battles/{open_one['id']}/vote", json={"winner": "tie"})
    ).status_code == 404

    # The rows stay; the tombstone says which vote there was; the audit log has it once.
    async with sm() as session:
        stored = await session.get(Battle, uuid.UUID(gone["id"]))
        vote = await session.get(Vote, uuid.UUID(gone["id"]))
        audit = (
            await session.scalars(select(AuditLog).where(AuditLog.action == "battle.delete"))
        ).all()
    assert stored is not None and stored.deleted_at is not None
    assert stored.deleted_vote is not None and stored.deleted_vote["winner"] == "model_b"
    assert vote is not None and vote.winner == "model_b"
    assert sorted(a.target for a in audit) == sorted(f"battle:{b['id']}" for b in (gone, open_one))
    gone_audit = next(a for a in audit if a.target == f"battle:{gone['id']}")
    assert gone_audit.before["vote"]["winner"] == "model_b"

    # Out of the following export, and off the board unless the operator includes them.
    out = await export_date(sm, datetime.now(UTC).date(), tmp_path / "exports", params=PARAMS)
    rows = {r["question_id"] for r in pq.read_table(out.out_dir / "battles.parquet").to_pylist()}
    assert uuid.UUID(gone["id"]).hex not in rows
    assert {uuid.UUID(kept["id"]).hex, uuid.UUID(theirs["id"]).hex} <= rows
    run = await compute_run(sm, params=PARAMS)
    dropped = {r["rule"]: r["dropped"] for r in run.cleaning["rules"]}
    assert dropped["deleted"] == 1
    assert uuid.UUID(gone["id"]) not in {b.battle_id for b in run.kept}
    counted = await compute_run(
        sm,
        params=LeaderboardParams(
            n_bootstrap=20, min_slice_votes=10**9, cleaning=CleaningParams(include_deleted=True)
        ),
    )
    assert uuid.UUID(gone["id"]) in {b.battle_id for b in counted.kept}
    for client in (owner, other):
        await client.aclose()
