"""Presets on PostgreSQL: a "random image" battle draws its image and question from the
configured bank, is flagged, stays off the leaderboard by default, and is marked in the
export. The demo draws shapes-world images instead."""

from __future__ import annotations

import io
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.arena.errors import ArenaError
from app.arena.presets import (
    DEMO_QUESTIONS,
    GENERAL_QUESTIONS,
    draw_preset,
    example_questions,
    preset_available,
)
from app.config import Settings
from app.db.models import Battle, Generation, Turn
from app.demo.questions import parse_question
from app.demo.shapes import random_scene, render_png
from app.leaderboard.cleaning import CleaningParams
from app.leaderboard.compute import LeaderboardParams
from app.leaderboard.pipeline import compute_run, run_leaderboard
from tests.arena.stack import png_bytes
from tests.leaderboard.conftest import running_app
from workers.export import export_date

PARAMS = LeaderboardParams(n_bootstrap=20, min_slice_votes=10**9)
BANK_QUESTION = "Which shape is the largest here?"


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("image-bank")
    (folder / "one.png").write_bytes(render_png(random_scene(1)))
    (folder / "one.txt").write_text(f"\n{BANK_QUESTION}\n\n")
    (folder / "notes.md").write_text("not an image")
    return folder


@pytest.fixture(scope="module")
async def app(
    lb_pg_url: str, lb_models_file: Path, bank: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FastAPI]:
    async with running_app(lb_pg_url, lb_models_file, tmp_path_factory.mktemp("presets-data"),
                           "presets", live_models=True,
                           preset_image_dir=bank) as app:
        yield app


async def answer_everything(sm: async_sessionmaker, battle_id: str) -> None:
    """What a worker would do: finish both answers."""
    async with sm() as session:
        turns = select(Turn.id).where(Turn.battle_id == uuid.UUID(battle_id))
        await session.execute(
            update(Generation)
            .where(Generation.turn_id.in_(turns))
            .values(status="done", text="Some shapes.", completion_tokens=2)
        )
        await session.commit()


def test_draws_come_from_the_bank_or_the_demo_world(bank: Path) -> None:
    rng = random.Random(0)
    dev = Settings(env="development")
    assert not preset_available(dev) and example_questions(dev) == GENERAL_QUESTIONS
    with pytest.raises(ArenaError) as refused:
        draw_preset("random-image", dev, rng)
    assert refused.value.status == 404
    with pytest.raises(ArenaError) as unknown:
        draw_preset("surprise", Settings(env="demo"), rng)
    assert unknown.value.status == 422

    demo = Settings(env="demo")
    assert preset_available(demo) and example_questions(demo) == DEMO_QUESTIONS
    for _ in range(5):
        drawn = draw_preset("random-image", demo, rng)
        assert Image.open(io.BytesIO(drawn.image)).format == "PNG"
        assert parse_question(drawn.question) is not None  # a question the demo knows
    assert all(parse_question(q) is not None for q in DEMO_QUESTIONS)

    deployed = Settings(env="production", preset_image_dir=bank)
    drawn = draw_preset("random-image", deployed, rng)
    assert drawn.image == (bank / "one.png").read_bytes() and drawn.question == BANK_QUESTION
    empty = Settings(preset_image_dir=bank / "missing")
    with pytest.raises(ArenaError) as none:
        draw_preset("random-image", empty, rng)
    assert none.value.status == 503


async def test_preset_battle_is_flagged_off_the_board_and_marked_in_the_export(
    app: FastAPI, tmp_path: Path
) -> None:
    sm: async_sessionmaker = app.state.arena.sessionmaker
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    assert (await client.post("/api/consent", json={"accept": True})).status_code == 200
    home = (await client.get("/")).text
    assert 'id="random-image"' in home and 'class="example-question"' in home

    bad = await client.post("/api/battles", data={"preset": "surprise"})
    assert bad.status_code == 422 and "Unknown preset" in bad.json()["detail"]
    async with sm() as session:
        assert (await session.scalars(select(Battle))).all() == []

    # The upload and prompt are not used: the preset decides both.
    r = await client.post(
        "/api/battles",
        data={"preset": "random-image", "prompt": "ignored"},
        files={"image": ("mine.png", png_bytes(), "image/png")},
    )
    assert r.status_code == 201, r.text
    preset = r.json()
    assert preset["preset"] == "random-image" and preset["models"] is None
    assert preset["turns"][0]["prompt"] == BANK_QUESTION
    image = await client.get(f"/api/images/{preset['image']}")
    assert image.status_code == 200
    await answer_everything(sm, preset["id"])
    page = (await client.get(f"/battle/{preset['id']}")).text
    assert 'data-preset="random-image"' in page

    own = await client.post(
        "/api/battles",
        data={"prompt": "What colour is it?"},
        files={"image": ("mine.png", png_bytes(), "image/png")},
    )
    assert own.status_code == 201 and own.json()["preset"] is None
    await answer_everything(sm, own.json()["id"])
    for battle in (preset, own.json()):
        voted = await client.post(f"/api/battles/{battle['id']}/vote", json={"winner": "model_a"})
        assert voted.status_code == 200, voted.text
    async with sm() as session:
        stored = await session.get(Battle, uuid.UUID(preset["id"]))
        assert stored is not None and stored.is_preset and stored.preset == "random-image"

    # Off the board by default, and the cleaning report says why.
    run = await compute_run(sm, params=PARAMS)
    dropped = {r["rule"]: r["dropped"] for r in run.cleaning["rules"]}
    assert dropped["preset"] == 1
    assert [b.battle_id.hex for b in run.kept] == [uuid.UUID(own.json()["id"]).hex]
    assert [b.battle_id.hex for b in run.presets] == [uuid.UUID(preset["id"]).hex]
    board = run.board("default")
    assert board is not None and sum(r["votes"] for r in board.payload["rows"]) == 2
    counted = await compute_run(
        sm,
        params=LeaderboardParams(
            n_bootstrap=20, min_slice_votes=10**9, cleaning=CleaningParams(include_presets=True)
        ),
    )
    assert len(counted.kept) == 2 and counted.presets == []
    await run_leaderboard(sm, params=PARAMS)
    api = (await client.get("/api/leaderboard")).json()
    assert api["snapshot"]["battles_used"] == 1

    # Marked in the export: released, flagged, with the preset's name.
    out = await export_date(sm, datetime.now(UTC).date(), tmp_path / "exports", params=PARAMS)
    rows = {r["question_id"]: r for r in pq.read_table(out.out_dir / "battles.parquet").to_pylist()}
    marked = rows[uuid.UUID(preset["id"]).hex]
    assert marked["is_preset"] is True and marked["preset"] == "random-image"
    plain = rows[uuid.UUID(own.json()["id"]).hex]
    assert plain["is_preset"] is False and plain["preset"] is None
    assert out.manifest["rows"]["battles_preset"] == 1
    assert out.manifest["rows"]["battles_ranked"] == 1
    await client.aclose()
