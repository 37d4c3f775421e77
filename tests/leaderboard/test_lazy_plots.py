"""A run draws the plots of its overall boards; every other board's plots are drawn on the
first request, from the stored payload, exactly as the run would have drawn them, and kept
in the snapshot row."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.db.leaderboard_tables import LeaderboardSnapshot
from app.leaderboard.compute import OVERALL, LeaderboardParams
from app.leaderboard.pipeline import run_leaderboard
from app.leaderboard.plots import plots_for, render_plot
from app.leaderboard.snapshots import snapshot_plot
from tests.leaderboard.simulate import (
    STRENGTHS,
    UNRANKED,
    add_models,
    add_visitors,
    insert_battles,
    random_battles,
)

PARAMS = LeaderboardParams(n_bootstrap=20, min_slice_votes=250)  # language:en is a slice


async def test_sliced_boards_draw_their_plots_on_request(lb_sm: async_sessionmaker) -> None:
    async with lb_sm() as session:
        await add_models(session, [*sorted(STRENGTHS), *UNRANKED])
        visitors = await add_visitors(session, 25)
        await insert_battles(session, random_battles(400, seed=3, visitors=visitors))
    run_id, run = await run_leaderboard(lb_sm, params=PARAMS)
    async with lb_sm() as session:
        rows = (await session.scalars(select(LeaderboardSnapshot).where(
            LeaderboardSnapshot.run_id == run_id))).all()
    overall = [r for r in rows if r.slice == OVERALL]
    sliced = [r for r in rows if r.slice != OVERALL]
    assert overall and sliced and len(rows) == len(run.boards)
    for row in rows:
        assert list(row.plots) == list(plots_for(row.payload))
    assert all(isinstance(v, str) and v.lstrip().startswith("<?xml")
               for r in overall for v in r.plots.values())
    assert all(v is None for r in sliced for v in r.plots.values())

    board = next(r for r in sliced if r.slice == "language:en" and r.kind == "default")
    drawn = render_plot(board.payload, "winrate")["svg"].decode()
    async with lb_sm() as session:
        assert await snapshot_plot(session, board.id, "winrate") == drawn
        assert await snapshot_plot(session, board.id, "no-such-plot") is None
    async with lb_sm() as session:
        kept = await session.get(LeaderboardSnapshot, board.id)
        assert kept is not None
        assert kept.plots["winrate"] == drawn  # kept for the next request
        assert {k for k, v in kept.plots.items() if v is None} == set(kept.plots) - {"winrate"}
        assert await snapshot_plot(session, board.id, "winrate") == drawn
