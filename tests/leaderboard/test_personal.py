"""The personal leaderboard: only its own visitor sees it, only after 20 votes; the blend
follows the visitor's taste when it differs from the public board's."""

from __future__ import annotations

import re
from datetime import timedelta

import numpy as np
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.db.models import Visitor
from app.leaderboard.compute import LeaderboardParams
from app.leaderboard.pipeline import run_leaderboard
from app.ranking import simulate_battles
from app.ranking.personal import personal_board
from tests.leaderboard.conftest import add_votes, asgi_client
from tests.leaderboard.simulate import (
    DAY,
    STRENGTHS,
    insert_battles,
    random_battles,
)

PARAMS = LeaderboardParams(n_bootstrap=30, min_slice_votes=10**9)


def test_blend_weight_follows_the_visitors_taste() -> None:
    public = np.array([0.6, 0.2, 0.0, -0.3, -0.5])
    contrarian = personal_board(simulate_battles([-0.6, 0.2, 0.0, -0.3, 0.9], 60, seed=1),
                                public)
    agreeing = personal_board(simulate_battles(public, 60, seed=2), public)
    assert contrarian.lam < agreeing.lam  # cross-validation trusts the contrarian's votes
    assert contrarian.cv_log_loss < contrarian.global_log_loss
    assert contrarian.logits[4] > contrarian.logits[0]  # their favourite rises
    with pytest.raises(ValueError):
        personal_board(simulate_battles(public, 19, seed=3), public)


async def newest_visitor(app: FastAPI) -> Visitor:
    async with app.state.arena.sessionmaker() as session:
        return (await session.scalars(select(Visitor).order_by(Visitor.created_at.desc())
                                      .limit(1))).one()


async def test_personal_board_only_for_its_visitor_after_20_votes(lb_app: FastAPI) -> None:
    app = lb_app
    sm = app.state.arena.sessionmaker
    await add_votes(sm, 200, seed=41)
    await run_leaderboard(sm, params=PARAMS)

    async with asgi_client(app) as me, asgi_client(app) as other:
        first = await me.get("/leaderboard/me")
        assert first.status_code == 200 and "vote in 20 more battles" in first.text
        assert first.headers["Cache-Control"] == "private, no-store"
        mine = await newest_visitor(app)
        # 19 votes: still not enough; their taste: delta (the public's weakest) wins
        taste = {**STRENGTHS, "delta-vl": 1500.0}
        votes = random_battles(19, seed=42, visitors=[mine.id], strengths=taste,
                               start=DAY + timedelta(days=2))
        async with sm() as session:
            await insert_battles(session, votes)
        assert "vote in 1 more battle" in (await me.get("/leaderboard/me")).text
        more = random_battles(40, seed=43, visitors=[mine.id], strengths=taste,
                              start=DAY + timedelta(days=3))
        async with sm() as session:
            await insert_battles(session, more)
        page = (await me.get("/leaderboard/me")).text
        assert 'id="personal-board"' in page and "From your 59 votes" in page
        ranked = re.findall(r'<td class="model">([^<]+)</td>', page)
        assert sorted(ranked) == sorted(STRENGTHS)
        assert ranked.index("delta-vl") < 3  # their favourite is near their top

        theirs = await other.get("/leaderboard/me")  # another browser: its own (empty) board
        assert 'id="personal-board"' not in theirs.text and "vote in 20 more" in theirs.text
        public = (await other.get("/leaderboard")).text
        assert 'id="personal-board"' not in public and 'href="/leaderboard/me"' in public
