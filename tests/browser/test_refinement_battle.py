"""A refinement battle in a real browser (uvicorn, embedded workers with the tiny models,
Chromium): the first answers stream, the vote stays closed, the visitor writes feedback
with "before" ratings, both sides refine (streamed), the visitor rates the refined
answers, votes ("which model used your feedback better?") and sees the names. What the
arena stored: a refinement turn with the feedback and the turn it refines, the four
ratings, and a vote that lands in the refinement category only (the refinement board,
not the default one)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.db.models import Battle, Generation, Turn, Vote
from app.leaderboard.compute import OVERALL, REFINEMENT_SLICE, LeaderboardParams
from app.leaderboard.compute import compute_leaderboards as compute
from app.leaderboard.load import load_battle_records, load_model_info
from tests.arena.stack import ArenaStack, db_query, png_bytes
from tests.browser.conftest import arena_page

pytestmark = pytest.mark.browser
FEEDBACK = "The colour is wrong: look at the whole image again."
ENDED = "section.battle[data-ended='1'] .turn[data-turn='{}']"


def stored(db_url: str, battle_id: str) -> dict[str, Any]:
    """What the arena stored of this battle, and the leaderboard over its vote (a thread of
    its own: the browser's event loop runs in this one)."""
    bid = uuid.UUID(battle_id)

    async def read(session: Any) -> dict[str, Any]:
        battle = await session.get(Battle, bid)
        turns = (await session.scalars(select(Turn).where(Turn.battle_id == bid)
                                       .order_by(Turn.index))).all()
        ratings = (await session.execute(select(Turn.index, Generation.side, Generation.rating)
                                         .join(Turn).where(Turn.battle_id == bid)
                                         .order_by(Turn.index, Generation.side)))
        vote = await session.get(Vote, bid)
        records = [r for r in await load_battle_records(session) if r.battle_id == bid]
        run = compute(records, await load_model_info(session), cutoff=datetime.now(UTC),
                      code_version="test",
                      params=LeaderboardParams(n_bootstrap=5, min_slice_votes=1))
        return {"refinement": battle.refinement,
                "turns": [(t.kind, t.refines_index, t.prompt) for t in turns],
                "ratings": [tuple(r) for r in ratings], "winner": vote.winner,
                "categories": [r.categories for r in records], "run": run}

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(db_query, db_url, read).result(timeout=120)


def test_refinement_battle_answer_feedback_refine_vote_reveal(  # type: ignore[no-untyped-def]
    browser, tiny_site: ArenaStack, tmp_path: Path
) -> None:
    image = tmp_path / "red.png"
    image.write_bytes(png_bytes((220, 30, 30), (96, 96)))
    page, errors = arena_page(browser, tiny_site.url)

    page.wait_for_selector("#new-battle")
    page.check("#refinement-battle")
    page.set_input_files("input[name=image]", str(image))
    page.fill("textarea[name=prompt]", "What colour is the image?")
    page.click("#send")
    page.wait_for_selector(ENDED.format(0), timeout=90_000)
    # The first answers are in, but a refinement battle is voted on after the feedback.
    assert "tell the models what is wrong" in page.inner_text("#refine-hint")
    assert all(b.is_disabled() for b in page.locator("button.vote").all())
    page.keyboard.press("ArrowLeft")
    page.wait_for_timeout(300)
    assert page.locator(".reveal").count() == 0

    page.fill("#refine-form input[name=feedback]", FEEDBACK)
    page.fill("#refine-form input[name=rating_a]", "3")
    page.fill("#refine-form input[name=rating_b]", "5")
    page.click("#send-feedback")
    page.wait_for_selector(".turn[data-turn='1'] .question.feedback")
    assert FEEDBACK in page.inner_text(".turn[data-turn='1'] .question.feedback")
    page.wait_for_selector(ENDED.format(1), timeout=90_000)  # both sides refined, streamed
    for side in "ab":
        answer = page.locator(f".turn[data-turn='1'] .pane[data-side='{side}'] .answer")
        assert answer.get_attribute("data-status") == "done" and answer.inner_text().strip()
    assert "You rated 3/10" in page.inner_text(".turn[data-turn='0'] .pane[data-side='a']")
    assert "Which model used your feedback better?" in page.inner_text("#refine-hint")
    assert all(b.is_enabled() for b in page.locator("button.vote").all())

    page.fill("#ratings-form input[name=rating_a]", "8")
    page.fill("#ratings-form input[name=rating_b]", "4")
    page.click("#send-ratings")
    page.wait_for_selector(".turn[data-turn='1'] .rating[data-side='b']")
    assert page.locator("#ratings-form").count() == 0
    page.click('button.vote[value="model_a"]')
    page.wait_for_selector(".reveal")
    battle_id = page.get_attribute("section.battle", "data-battle-id")
    assert battle_id
    reveal = page.inner_text(".reveal")
    assert "You voted: A is better" in reveal
    assert {page.inner_text(".reveal-a"), page.inner_text(".reveal-b")} == {
        "tiny-alpha", "tiny-beta"}
    assert errors == []
    page.close()

    got = stored(tiny_site.env["ARENA_DATABASE_URL"], battle_id)
    assert got["refinement"] is True and got["winner"] == "model_a"
    assert got["turns"] == [("question", None, "What colour is the image?"),
                            ("refinement", 0, FEEDBACK)]
    assert got["ratings"] == [(0, "a", 3), (0, "b", 5), (1, "a", 8), (1, "b", 4)]
    # The vote is in the refinement category, on the refinement board and no other.
    assert got["categories"] == [("refinement",)]
    run = got["run"]
    assert run.board("default", OVERALL) is None and run.kept == []
    assert [(b.kind, b.slice, b.n_battles) for b in run.boards] == [
        ("default", REFINEMENT_SLICE, 1), ("style", REFINEMENT_SLICE, 1)]
