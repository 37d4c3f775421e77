"""Cleaning before ranking, on battles read back from PostgreSQL: every rule drops exactly
the battles that break it, and the fit on what is left recovers the known order."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.db.models import Generation, Turn
from app.leaderboard.cleaning import CleaningParams, clean, ranking_facts
from app.leaderboard.compute import LeaderboardParams, compute_leaderboards
from app.leaderboard.load import load_battle_records, load_model_info, load_ranking_records
from app.leaderboard.pipeline import compute_run
from app.leaderboard.style_meta import markdown_counts
from app.leaderboard.style_store import stored_style, style_to_store
from app.ranking import count_style
from tests.leaderboard.simulate import (
    DAILY_CAP,
    MAX_PER_PROMPT,
    STRENGTHS,
    UNRANKED,
    add_models,
    build_scenario,
    insert_battles,
)

PARAMS = LeaderboardParams(
    n_bootstrap=50, min_slice_votes=10**9,
    cleaning=CleaningParams(daily_vote_cap=DAILY_CAP, max_per_prompt=MAX_PER_PROMPT),
)


async def test_each_rule_drops_what_it_should(lb_sm: async_sessionmaker) -> None:
    async with lb_sm() as session:
        await add_models(session, [*sorted(STRENGTHS), *UNRANKED])
        scenario = await build_scenario(session)
        await insert_battles(session, scenario.specs)

    run = await compute_run(lb_sm, params=PARAMS)

    report = run.cleaning
    dropped = {r["rule"]: r["dropped"] for r in report["rules"]}
    assert report["total"] == len(scenario.specs)
    assert dropped == scenario.expected_dropped
    assert report["kept"] == scenario.expected_kept == len(run.kept)
    # The counts chain: each rule's "remaining" is the next rule's input.
    remaining = report["total"]
    for rule in report["rules"]:
        remaining -= rule["dropped"]
        assert rule["remaining"] == remaining
    kept_ids = {b.battle_id for b in run.kept}
    assert scenario.clean_ids <= kept_ids
    assert not scenario.removed_ids & kept_ids

    board = run.board("default")
    assert board is not None and board.n_battles == scenario.expected_kept
    order = [r["model"] for r in board.payload["rows"]]
    assert order == sorted(STRENGTHS, key=STRENGTHS.get, reverse=True)
    assert "omega-vl" not in order
    assert run.board("style") is not None


async def test_identity_words_come_from_the_registry(lb_sm: async_sessionmaker) -> None:
    async with lb_sm() as session:
        info = await load_model_info(session)
    assert info["alpha-vl"].identity_words == ("alpha-vl", "AlphaCorp")
    assert info["omega-vl"].ranked is False and info["alpha-vl"].ranked is True


async def test_records_keep_the_cutoff(lb_sm: async_sessionmaker) -> None:
    async with lb_sm() as session:
        everything = await load_battle_records(session)
        cutoff = everything[len(everything) // 2].voted_at
        before = await load_battle_records(session, cutoff=cutoff)
    assert before and all(b.voted_at < cutoff for b in before)
    assert len(before) < len(everything)
    assert [b.voted_at for b in everything] == sorted(b.voted_at for b in everything)


async def test_reading_for_ranking_only_changes_nothing(lb_sm: async_sessionmaker) -> None:
    """The chunked, texts-free reader gives the battles of the full one, in its order, and
    every rule, board and count of a run on them is the same (pages of 7 votes here)."""
    async with lb_sm() as session:
        if not await load_model_info(session):
            await add_models(session, [*sorted(STRENGTHS), *UNRANKED])
            await insert_battles(session, (await build_scenario(session)).specs)
        models = await load_model_info(session)
        full = await load_battle_records(session)
        lean = await load_ranking_records(session, models, chunk=7)
        cutoff = full[len(full) // 2].voted_at
        assert ([b.battle_id for b in await load_ranking_records(session, models, chunk=7,
                                                                 cutoff=cutoff)]
                == [b.battle_id for b in full if b.voted_at < cutoff])
    assert [b.battle_id for b in lean] == [b.battle_id for b in full]
    assert all(b.turns == () and b.facts is not None for b in lean)
    assert ([dataclasses.replace(b, turns=(), facts=None) for b in full]
            == [dataclasses.replace(b, facts=None) for b in lean])
    assert any(b.facts is not None and b.facts.disclosed for b in lean)
    at = datetime(2030, 1, 1, tzinfo=UTC)
    runs = [compute_leaderboards(records, models, cutoff=at, code_version="x", params=PARAMS)
            for records in (full, lean)]
    assert runs[0].cleaning == runs[1].cleaning
    assert [(b.kind, b.slice, b.payload) for b in runs[0].boards] == [
        (b.kind, b.slice, b.payload) for b in runs[1].boards]
    assert [b.battle_id for b in runs[0].kept] == [b.battle_id for b in runs[1].kept]
    # Facts checked against other identity words are refused, not silently reused.
    other = {name: dataclasses.replace(info, identity_words=("zzz",))
             for name, info in models.items()}
    with pytest.raises(ValueError, match="other identity words"):
        clean(lean, other)


async def test_stored_style_counts_are_read_as_counted(lb_sm: async_sessionmaker) -> None:
    """Counts stored when an answer was saved (generations.style) are what counting its
    text gives, and both readers use them instead of counting (marked counts here show
    it); another version's are ignored (counted again)."""
    text = "# Head\n\n- one **two**\n- three"
    assert stored_style(style_to_store(text), 11) == count_style(text, 11)
    assert stored_style(style_to_store(text), None) == count_style(text)
    assert stored_style({**style_to_store(text), "version": -1}, 3) is None
    async with lb_sm() as session:
        if not await load_model_info(session):
            await add_models(session, [*sorted(STRENGTHS), *UNRANKED])
            await insert_battles(session, (await build_scenario(session)).specs)
        gen = (await session.scalars(select(Generation).where(
            Generation.status == "done", Generation.completion_tokens.is_not(None),
            Generation.text != "").limit(1))).one()
        marked = style_to_store(gen.text)
        marked["counts"] = [c + 100 for c in marked["counts"]]
        gen.style = marked  # the text of a finished answer never changes (migration 0007)
        await session.commit()
        expected = stored_style(marked, gen.completion_tokens)
        assert expected is not None and expected != count_style(gen.text, gen.completion_tokens)
        turn = await session.get(Turn, gen.turn_id)
        assert turn is not None
        models = await load_model_info(session)
        lean = {b.battle_id: b for b in await load_ranking_records(session, models)}
        full = {b.battle_id: b for b in await load_battle_records(session)}
        gen.style = None
        await session.commit()
    battle = full[turn.battle_id]
    assert getattr(battle.turns[turn.index], f"style_{gen.side}") == expected
    facts = lean[turn.battle_id].facts
    assert facts is not None and facts == ranking_facts(battle, models)
    counted = ranking_facts(dataclasses.replace(battle, turns=tuple(
        dataclasses.replace(t, style_a=None, style_b=None) for t in battle.turns)), models)
    side = "style_a" if gen.side == "a" else "style_b"
    assert getattr(facts, side) != getattr(counted, side)  # read, not counted


def test_dataset_style_counts_equal_the_engine_counts() -> None:
    text = ("# Title\n## Sub\nSome **bold** and __also__ text.\n\n- a\n* b\n1. c\n2) d\n\n"
            "```\n# not a header\n- not a list\n```\n### End")
    meta = markdown_counts(text)
    engine = count_style(text, tokens=7)
    assert sum(meta["header_count"].values()) == engine.headers == 3
    assert meta["header_count"]["h1"] == 1 and meta["header_count"]["h3"] == 1
    assert sum(meta["list_count"].values()) == engine.list_items == 4
    assert meta["list_count"] == {"ordered": 2, "unordered": 2}
    assert meta["bold_count"] == {"**": 1, "__": 1} and engine.bold == 2
