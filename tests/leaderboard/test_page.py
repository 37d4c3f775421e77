"""The public leaderboard page and JSON read stored snapshots only: an empty arena says so,
a computed snapshot is shown with its plots, and new votes change nothing until the next
snapshot."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.config import Settings
from app.leaderboard.compute import LeaderboardParams
from app.leaderboard.pipeline import run_leaderboard
from tests.leaderboard.conftest import asgi_client
from tests.leaderboard.simulate import STRENGTHS, add_visitors, insert_battles, random_battles

# 400 battles: language:en (2/3) and no_ties (~9/10) reach 250 votes; other slices do not.
PARAMS = LeaderboardParams(n_bootstrap=50, min_slice_votes=250)
OVERALL_ONLY = LeaderboardParams(n_bootstrap=50, min_slice_votes=10**9)


@pytest.fixture(scope="module")
async def app(lb_pg_url: str, lb_models_file: Path,
              tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FastAPI]:
    from app.web import leaderboard_routes
    from app.web.main import create_app

    app = create_app(Settings(
        database_url=lb_pg_url, redis_url=None, data_dir=tmp_path_factory.mktemp("lb-data"),
        models_file=lb_models_file, moderation_enabled=False,
        secret_key="leaderboard-tests-secret-0123456789", ip_hash_salt="lb-salt",
    ))
    if not any(getattr(r, "path", "") == "/leaderboard" for r in app.routes):
        app.include_router(leaderboard_routes.router)  # until main.py includes it
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="module")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as c:
        yield c


def table_models(html: str) -> list[str]:
    return re.findall(r'<td class="model">([^<]+)</td>', html)


async def test_leaderboard_page_reads_snapshots_only(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    sm: async_sessionmaker = app.state.arena.sessionmaker

    empty = await client.get("/leaderboard")
    assert empty.status_code == 200
    assert "No votes yet" in empty.text and not table_models(empty.text)
    api = (await client.get("/api/leaderboard")).json()
    assert api["snapshot"] is None and api["rows"] == []
    # A run over an empty arena stores an empty board: still "no votes yet", with a time.
    _, empty_run = await run_leaderboard(sm, params=PARAMS)
    assert empty_run.boards == [] and empty_run.cleaning["total"] == 0
    checked = (await client.get("/leaderboard")).text
    assert "No votes yet" in checked and "last checked" in checked
    assert (await client.get("/api/leaderboard")).json()["rows"] == []

    async with sm() as session:
        visitors = await add_visitors(session, 25)
        await insert_battles(session, random_battles(400, seed=3, visitors=visitors))
    # Votes alone do not change the page: it never computes on a request.
    assert "No votes yet" in (await client.get("/leaderboard")).text

    _, run = await run_leaderboard(sm, params=PARAMS)
    page = await client.get("/leaderboard")
    assert page.status_code == 200
    assert table_models(page.text) == sorted(STRENGTHS, key=STRENGTHS.get, reverse=True)
    assert "updated <time" in page.text and 'hx-select="#board"' in page.text
    api = (await client.get("/api/leaderboard")).json()
    board = run.board("default")
    assert board is not None
    # status (the lifecycle badge) is null without lifecycle rules; the rest as stored
    assert {r.pop("status") for r in api["rows"]} == {None}
    assert api["rows"] == board.payload["rows"]
    assert api["snapshot"]["battles_used"] == 400
    assert api["snapshot"]["reweighting"]["method"] == "inverse_pair_frequency"
    assert "Each battle weighted by 1/max(battles of its pair, 50)" in page.text
    ties = board.payload["tie_methods"]  # held-out evidence for the tie options
    assert set(ties["methods"]) == {"half", "ignore", "grounded"} and ties["test_votes"] == 80
    assert all(0.0 < m["log_loss"] < 1.0 for m in ties["methods"].values())
    assert 'id="lb-ties"' in page.text and '<tr data-method="grounded">' in page.text
    # the board's own tie rule (the default), said above the table and marked in the report
    assert api["snapshot"]["ties"] == {"method": "half",
                                       "label": "ties count as half a win for each side"}
    assert "Ties: ties count as half a win for each side." in page.text
    assert '<tr data-method="half" class="lb-current"><td>Half a win each (this board)' \
        in page.text
    assert {r["votes"] for r in api["rows"]} and sum(r["votes"] for r in api["rows"]) == 800

    for name, url in api["snapshot"]["plots"].items():
        assert f"/leaderboard/plots/{api['snapshot']['id']}/{name}.svg" in page.text
        svg = await client.get(url)
        assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
        assert svg.text.lstrip().startswith("<?xml") and "alpha-vl" in svg.text
    assert (await client.get(f"/leaderboard/plots/{api['snapshot']['id']}/x.svg")).status_code \
        == 404

    # Style control and a language slice, as the htmx selector asks for them.
    style = (await client.get("/api/leaderboard", params={"kind": "style"})).json()
    assert style["snapshot"]["kind"] == "style" and style["snapshot"]["style_coefficients"]
    style_page = (await client.get("/leaderboard", params={"kind": "style"})).text
    for feature in style["snapshot"]["style_coefficients"]:  # each with its interval
        assert re.search(rf'data-feature="{feature}">{feature} [+-][0-9.]+ \(95% CI '
                         r'[+-][0-9.]+ to [+-][0-9.]+\)', style_page), feature
    assert "language:en" in style["slices"] and "overall" in style["slices"]
    sliced = await client.get("/leaderboard", params={"kind": "style", "slice": "language:en"},
                              headers={"HX-Request": "true"})
    assert re.search(r'<option value="language:en" selected>', sliced.text)
    assert re.search(r'<option value="style" selected>', sliced.text)
    # Online Elo beside Bradley-Terry: overall only, labelled order-dependent, no CI.
    elo_page = await client.get("/leaderboard", params={"kind": "elo"})
    assert re.search(r'<option value="elo" selected>Online Elo \(order-dependent\)', elo_page.text)
    assert "Order-dependent:" in elo_page.text and "time order" in elo_page.text
    elo = (await client.get("/api/leaderboard", params={"kind": "elo"})).json()
    assert elo["slices"] and {r["ci_lower"] for r in elo["rows"]} == {None}
    assert [r["rank"] for r in elo["rows"]] == list(range(1, len(elo["rows"]) + 1))
    elo_sliced = (await client.get("/api/leaderboard",
                                   params={"kind": "elo", "slice": "language:en"})).json()
    assert elo_sliced["snapshot"]["kind"] == "default"  # no Elo slices: falls back
    en = (await client.get("/api/leaderboard",
                           params={"kind": "default", "slice": "language:en"})).json()
    assert en["snapshot"]["battles_used"] == sum(1 for b in run.kept if b.language == "en")

    # More votes (the weakest model now wins everything): page unchanged until a snapshot.
    before = (await client.get("/leaderboard")).text
    async with sm() as session:
        upset = random_battles(400, seed=4, visitors=visitors,
                               strengths={**STRENGTHS, "delta-vl": 2500.0})
        await insert_battles(session, upset)
    assert (await client.get("/leaderboard")).text == before
    await run_leaderboard(sm, params=OVERALL_ONLY)
    after = await client.get("/leaderboard")
    assert after.text != before
    assert table_models(after.text)[0] == "delta-vl"
