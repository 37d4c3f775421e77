"""Latency columns and the rating-versus-latency plot, from the stored generations."""

from __future__ import annotations

import numpy as np
from fastapi import FastAPI
from sqlalchemy import select, update

from app.db.models import Generation
from app.leaderboard.compute import LeaderboardParams
from app.leaderboard.pipeline import run_leaderboard
from tests.leaderboard.conftest import add_votes, asgi_client
from tests.leaderboard.simulate import STRENGTHS

PARAMS = LeaderboardParams(n_bootstrap=30, min_slice_votes=10**9)
TTFT = {"alpha-vl": 900.0, "beta-vl": 300.0, "gamma-vl": 120.0, "delta-vl": 60.0}


async def test_latency_columns_and_plot(lb_app: FastAPI) -> None:
    app = lb_app
    sm = app.state.arena.sessionmaker
    await add_votes(sm, 120, seed=21)
    async with sm() as session:
        gens = (await session.execute(select(Generation.id, Generation.model))).all()
        rng = np.random.default_rng(0)
        for k, (gid, model) in enumerate(gens):
            if k % 7 == 0:
                continue  # no first-token time recorded: not counted
            ttft = TTFT[model] * float(rng.uniform(0.5, 1.5))
            await session.execute(update(Generation).where(Generation.id == gid).values(
                ttft_ms=ttft, latency_ms=ttft + 1000.0))
        await session.commit()
        rows = (await session.execute(select(
            Generation.model, Generation.ttft_ms, Generation.latency_ms,
            Generation.completion_tokens).where(Generation.ttft_ms.is_not(None)))).all()
    _, run = await run_leaderboard(sm, params=PARAMS)
    latency = run.board("default").payload["latency"]  # type: ignore[union-attr]
    for model in STRENGTHS:
        mine = [r for r in rows if r.model == model]
        assert latency[model]["n"] == len(mine)
        assert latency[model]["ttft_ms"] == round(float(np.median([r.ttft_ms for r in mine])), 1)
        rates = [round((r.completion_tokens - 1) / 1.0, 1) for r in mine
                 if r.completion_tokens > 1]  # 1000 ms after the first token
        assert latency[model]["tokens_per_s"] == round(float(np.median(rates)), 1)
    assert run.board("elo").payload["latency"] == latency  # type: ignore[union-attr]

    async with asgi_client(app) as client:
        page = (await client.get("/leaderboard")).text
        assert "TTFT (ms)" in page and "Tokens/s" in page
        assert f'<td class="num latency">{latency["alpha-vl"]["ttft_ms"]:.0f}</td>' in page
        api = (await client.get("/api/leaderboard")).json()
        svg = await client.get(api["snapshot"]["plots"]["latency"])
        assert svg.status_code == 200 and "Rating versus latency" in svg.text
        assert "delta-vl" in svg.text
