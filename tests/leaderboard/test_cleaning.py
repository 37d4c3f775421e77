"""Cleaning before ranking, on battles read back from PostgreSQL: every rule drops exactly
the battles that break it, and the fit on what is left recovers the known order."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.leaderboard.cleaning import CleaningParams
from app.leaderboard.compute import LeaderboardParams
from app.leaderboard.load import load_battle_records, load_model_info
from app.leaderboard.pipeline import compute_run
from app.leaderboard.style_meta import markdown_counts
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
