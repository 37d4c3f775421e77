"""Identity mentions stored with an answer (generations.mentions, migration 0021): the
ranking reader decides the identity rule from them without selecting any answer text, and
gives exactly the verdicts of the full-text rule; a row checked against other words than
its battle's models' current ones is read from its text."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.db.models import Battle, Generation, ModelEntry, Turn, Visitor
from app.db.session import make_engine, make_sessionmaker
from app.leaderboard.cleaning import clean, ranking_facts
from app.leaderboard.load import load_battle_records, load_model_info, load_ranking_records
from app.leaderboard.mentions_store import mentions_to_store, stored_mentions
from app.leaderboard.records import ModelInfo, RankingFacts
from app.leaderboard.style_store import style_to_store
from tests.leaderboard.simulate import (
    STRENGTHS,
    UNRANKED,
    add_models,
    add_visitors,
    build_scenario,
    insert_battles,
    random_battles,
)
from workers import job_store


@pytest.fixture
async def engine(lb_pg_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(lb_pg_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def sm(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker]:
    maker = make_sessionmaker(engine)
    async with maker() as session:
        if not await load_model_info(session):
            await add_models(session, [*sorted(STRENGTHS), *UNRANKED])
            await insert_battles(session, (await build_scenario(session)).specs)
    yield maker


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[tuple[str, Any]]]:
    """The SQL sent while inside, with its parameters: through SQLAlchemy and straight
    through the driver (asyncpg's query logger on every connection checked out)."""
    seen: list[tuple[str, Any]] = []
    drivers: list[Any] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    def logged(query: Any) -> None:
        seen.append((query.query, query.args))

    def checkout(dbapi_connection: Any, *_: Any) -> None:
        driver = dbapi_connection.driver_connection
        if hasattr(driver, "add_query_logger") and driver not in drivers:  # asyncpg
            driver.add_query_logger(logged)
            drivers.append(driver)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    event.listen(engine.sync_engine, "checkout", checkout)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
        event.remove(engine.sync_engine, "checkout", checkout)
        for driver in drivers:
            driver.remove_query_logger(logged)


def _texts_read(seen: list[tuple[str, Any]]) -> set[str]:
    """The ids of the answers whose texts were selected (none: no text query at all)."""
    queries = [params for statement, params in seen
               if re.search(r"\b(generations\.)?text\b", statement.split("FROM")[0])
               and "generations" in statement]
    return {str(p) for params in queries for ps in params
            for p in (ps if isinstance(ps, list | tuple) else [ps])}


async def _unsaved(sm: async_sessionmaker) -> set[str]:
    """Answers save_answer never stored (failed, running): no stored facts, so the reader
    reads their texts (in the arena "", here the scenario's old rule-breaking rows)."""
    async with sm() as session:
        return {str(g) for g in (await session.scalars(
            select(Generation.id).where(Generation.status != "done"))).all()}


async def _store_as_saved(sm: async_sessionmaker) -> None:
    """style and mentions on every finished answer, as save_answer stores them."""
    async with sm() as session:
        models = await load_model_info(session)
        rows = (await session.execute(
            select(Generation, Battle.model_a, Battle.model_b)
            .join(Turn, Turn.id == Generation.turn_id).join(Battle, Battle.id == Turn.battle_id)
            .where(Generation.status == "done"))).all()
        for gen, a, b in rows:
            words = [w for m in (a, b) if m in models for w in models[m].identity_words]
            gen.style = style_to_store(gen.text)
            gen.mentions = mentions_to_store(gen.text, words)
        await session.commit()


async def _facts(sm: async_sessionmaker, models: dict[str, ModelInfo] | None = None, *,
                 native: bool = True) -> dict[uuid.UUID, RankingFacts | None]:
    """The ranking reader's facts (``native``: PostgreSQL decodes the stored JSON; else
    the reader's path for any database)."""
    async with sm() as session:
        models = models or await load_model_info(session)
        return {b.battle_id: b.facts for b in await load_ranking_records(
            session, models, chunk=9, native=native)}


async def _full_facts(sm: async_sessionmaker, models: dict[str, ModelInfo] | None = None,
                      ) -> dict[uuid.UUID, RankingFacts]:
    async with sm() as session:
        models = models or await load_model_info(session)
        return {b.battle_id: ranking_facts(b, models)
                for b in await load_battle_records(session)}


def test_stored_mentions_answer_as_the_text_would() -> None:
    words = ["alpha-vl", "AlphaCorp", "beta-vl", "Betatron", ""]
    for answer in ("As an assistant made by ALPHACORP.", "No names here.", "beta-vl!",
                   "", "BetaTRON and alpha-VL", "alpha-v l"):
        stored = mentions_to_store(answer, words)
        assert stored["checked"] == ["alpha-vl", "alphacorp", "beta-vl", "betatron"]
        for needed in (("alpha-vl", "alphacorp"), ("beta-vl", "betatron"),
                       ("alphacorp", "betatron"), ("betatron",)):
            assert stored_mentions(stored, needed) is any(w in answer.lower() for w in needed)
        assert stored_mentions(stored, ("alpha-vl", "gamma")) is None  # gamma not checked
    assert stored_mentions(None, ("alpha-vl",)) is None
    assert stored_mentions({"checked": "alpha-vl", "found": []}, ("alpha-vl",)) is None
    assert stored_mentions(None, ()) is False  # the rule looks for nothing


async def test_save_answer_stores_the_battles_identity_mentions(sm: async_sessionmaker) -> None:
    async with sm() as session:
        visitor = Visitor(ip_hash="m" * 64)
        session.add(visitor)
        await session.flush()
        battle = Battle(visitor_id=visitor.id, mode="anonymous", model_a="alpha-vl",
                        model_b="beta-vl", ip_hash="m" * 64)
        turn = Turn(battle=battle, index=0, prompt="Who are you?")
        gens = [Generation(turn=turn, side=s, model=m, status="queued")
                for s, m in (("a", "alpha-vl"), ("b", "beta-vl"))]
        session.add(battle)
        await session.commit()
        ids = [g.id for g in gens]
    answers = ["I was trained by ALPHACORP, I am Alpha-VL.", "A cat on a mat."]
    for gid, answer in zip(ids, answers, strict=True):
        async with sm() as session:
            context = await job_store.begin_attempt(session, str(gid), "w-test")
        assert context is not None
        async with sm() as session:
            assert await job_store.save_answer(
                session, str(gid), context.attempt, text=answer, prompt_tokens=3,
                completion_tokens=9, finish_reason="stop", ttft_ms=1.0, latency_ms=2.0)
    async with sm() as session:
        stored = {g.side: g.mentions for g in (await session.scalars(
            select(Generation).where(Generation.id.in_(ids)))).all()}
    checked = ["alpha-vl", "alphacorp", "beta-vl", "betatron"]
    assert stored == {"a": {"checked": checked, "found": ["alpha-vl", "alphacorp"]},
                      "b": {"checked": checked, "found": []}}


async def test_current_rows_decide_without_any_answer_text(
        sm: async_sessionmaker, engine: AsyncEngine) -> None:
    """With every row's mentions and style current, the reader selects no answer text and
    its facts are those of the full battles; with the texts blanked in the database the
    verdicts stay (they came from the stored mentions)."""
    await _store_as_saved(sm)
    expected = await _full_facts(sm)
    assert sum(f.disclosed for f in expected.values()) >= 3
    unsaved = await _unsaved(sm)
    for native in (True, False):
        with statements(engine) as seen:
            lean = await _facts(sm, native=native)
            await asyncio.sleep(0.05)  # the driver's query logger runs soon after a query
        assert seen and unsaved and _texts_read(seen) == unsaved  # no finished answer's text
        assert lean == expected
    async with sm() as session:
        texts = dict((await session.execute(select(Generation.id, Generation.text))).all())
        await session.execute(text("SET LOCAL session_replication_role = replica"))
        await session.execute(update(Generation).where(Generation.status == "done")
                              .values(text=""))  # past the finished-answer trigger
        await session.commit()
    try:
        assert await _facts(sm) == expected
        assert await _facts(sm, native=False) == expected
    finally:
        async with sm() as session:
            await session.execute(text("SET LOCAL session_replication_role = replica"))
            for gid, value in texts.items():
                await session.execute(update(Generation).where(Generation.id == gid)
                                      .values(text=value))
            await session.commit()


async def test_stale_rows_are_read_from_their_texts(
        sm: async_sessionmaker, engine: AsyncEngine) -> None:
    """Rows checked against other words (or never) fall back to the text and give the
    full-text verdict, also when a model's identity words changed after the answers were
    saved (the stored checks then miss the new word)."""
    await _store_as_saved(sm)
    expected = await _full_facts(sm)
    disclosing = [k for k, f in expected.items() if f.disclosed]
    async with sm() as session:
        gens = (await session.execute(
            select(Generation.id, Turn.battle_id).join(Turn, Turn.id == Generation.turn_id)
            .where(Generation.status == "done"))).all()
        by_battle: dict[uuid.UUID, list[uuid.UUID]] = {}
        for gid, bid in gens:
            by_battle.setdefault(bid, []).append(gid)
        clean_battle = next(k for k, f in expected.items() if not f.disclosed)
        # A disclosing battle whose rows were checked against other words (one says it
        # found a word), one never checked, and a clean battle whose stale row "found" one.
        await session.execute(update(Generation).where(
            Generation.id.in_(by_battle[disclosing[0]])).values(
            mentions={"checked": ["zzz"], "found": ["zzz"]}))
        await session.execute(update(Generation).where(
            Generation.id.in_(by_battle[disclosing[1]])).values(mentions=None))
        await session.execute(update(Generation).where(
            Generation.id.in_(by_battle[clean_battle])).values(
            mentions={"checked": ["alpha-vl"], "found": ["alpha-vl"]}))
        await session.commit()
    stale = {str(g) for k in (disclosing[0], disclosing[1], clean_battle) for g in by_battle[k]}
    for native in (True, False):
        with statements(engine) as seen:
            lean = await _facts(sm, native=native)
            await asyncio.sleep(0.05)
        assert _texts_read(seen) == await _unsaved(sm) | stale
        assert lean == expected
    assert lean[disclosing[0]].disclosed and lean[disclosing[1]].disclosed  # type: ignore[union-attr]
    assert not lean[clean_battle].disclosed  # type: ignore[union-attr]

    # A new identity word ("WORD", in most answers) after the answers were saved.
    async with sm() as session:
        entry = await session.get(ModelEntry, "alpha-vl")
        assert entry is not None
        before = list(entry.identity_words)
        entry.identity_words = [*before, "WORD"]
        await session.commit()
    try:
        async with sm() as session:
            models = await load_model_info(session)
        renamed = await _full_facts(sm, models)
        changed = [k for k in renamed if renamed[k].disclosed != expected[k].disclosed]
        assert changed  # the new word changes verdicts: the stored checks can not answer
        assert await _facts(sm, models) == renamed
        assert await _facts(sm, models, native=False) == renamed
        async with sm() as session:
            battles = await load_ranking_records(session, models)
        # ...and the cleaning on these facts accepts the new words (they were re-checked).
        dropped = {r["rule"]: r["dropped"] for r in clean(battles, models).report["rules"]}
        assert dropped["identity_disclosed"] > 0
    finally:
        async with sm() as session:
            entry = await session.get(ModelEntry, "alpha-vl")
            assert entry is not None
            entry.identity_words = before
            await session.commit()


def test_facts_compare_fully() -> None:
    """The comparisons above are strict: facts differing only in the verdict differ."""
    from app.ranking import StyleCounts

    style = StyleCounts(*([0] * len(dataclasses.fields(StyleCounts))))
    one = RankingFacts("h", "finished", "finished", 1, ("a",), False, style, style)
    assert one != dataclasses.replace(one, disclosed=True)


async def test_the_embedded_database_reads_the_same(tmp_path: Any) -> None:
    """SQLite (the embedded default) takes the portable path: stored mentions answer there
    too, no finished answer's text is selected, and the facts are the full battles'."""
    from app.db.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'lb.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    try:
        maker = make_sessionmaker(engine)
        async with maker() as session:
            await add_models(session, [*sorted(STRENGTHS), *UNRANKED])
            visitors = await add_visitors(session, 5)
            specs = random_battles(40, seed=5, visitors=visitors)
            specs[0].model_a, specs[0].model_b = "alpha-vl", "beta-vl"
            specs[0].answer_b = "Betatron here."
            await insert_battles(session, specs)
        await _store_as_saved(maker)
        expected = await _full_facts(maker)
        assert expected[specs[0].battle_id].disclosed
        with statements(engine) as seen:
            lean = await _facts(maker)
        assert seen and not _texts_read(seen)
        assert lean == expected
    finally:
        await engine.dispose()
