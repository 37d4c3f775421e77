"""The nightly export: every file is there, the Parquet matches the VisionArena-Battle
schema, the manifest's sha256s are right, a re-run is byte-identical, and two concurrent
exports of one date run once (PostgreSQL and SQLite)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.config import REPO_ROOT
from app.db.leaderboard_tables import ExportRun, LeaderboardSnapshot
from app.db.session import make_engine, make_sessionmaker
from app.leaderboard.cleaning import CleaningParams
from app.leaderboard.compute import LeaderboardParams
from app.leaderboard.dataset import SCHEMA
from tests.leaderboard.simulate import (
    DAILY_CAP,
    DAY,
    MAX_PER_PROMPT,
    REFINEMENT_FEEDBACK,
    REFINEMENT_RATINGS,
    STRENGTHS,
    UNRANKED,
    add_models,
    add_visitors,
    build_scenario,
    insert_battles,
    random_battles,
)
from workers.export import due_day, export_date, run_scheduler

PARAMS = LeaderboardParams(
    n_bootstrap=50, min_slice_votes=10**9,
    cleaning=CleaningParams(daily_vote_cap=DAILY_CAP, max_per_prompt=MAX_PER_PROMPT),
)
EXPORT_DAY = DAY.date()


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def scenario_db(lb_pg_url: str):  # type: ignore[no-untyped-def]
    """Battles on EXPORT_DAY (with dirty ones) and some votes on the next day."""

    async def seed():  # type: ignore[no-untyped-def]
        engine = make_engine(lb_pg_url)
        try:
            async with make_sessionmaker(engine)() as session:
                await add_models(session, [*sorted(STRENGTHS), *UNRANKED])
                scenario = await build_scenario(session, n_clean=200)
                await insert_battles(session, scenario.specs)
                return scenario
        finally:
            await engine.dispose()

    return asyncio.run(seed())


async def test_export_writes_every_file_reproducibly(
    scenario_db, lb_sm: async_sessionmaker, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    out = tmp_path / "exports"
    first = await export_date(lb_sm, EXPORT_DAY, out, params=PARAMS)
    assert first.status == "done" and first.out_dir == out / EXPORT_DAY.isoformat()
    folder = first.out_dir
    names = set(tree_digest(folder))
    for kind in ("default", "style"):
        for plot in ("ratings", "winrate"):
            assert {f"plots/{kind}__overall__{plot}.svg",
                    f"plots/{kind}__overall__{plot}.png"} <= names
    assert {"leaderboard.json", "leaderboard.csv", "index.html", "battles.parquet",
            "manifest.json"} <= names

    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest == first.manifest
    assert set(manifest["files"]) == names - {"manifest.json"}
    for rel, entry in manifest["files"].items():
        data = (folder / rel).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    assert manifest["date"] == "2026-11-20" and manifest["seed"] == 0
    assert manifest["code_version"]
    # The fit's battle weighting is recorded with the data it was applied to.
    assert manifest["reweighting"] == {"method": "inverse_pair_frequency", "floor": 50,
                                       "weight": "1/max(n_pair, 50), normalised to mean 1"}
    assert manifest["params"]["reweighting"] == {"method": "inverse_pair_frequency",
                                                 "floor": 50}
    board_json = json.loads((folder / "leaderboard.json").read_text())
    assert board_json["reweighting"] == manifest["reweighting"]
    fitted = [b for b in board_json["boards"] if b["kind"] != "elo"]  # Elo: no weights
    assert fitted and all(b["reweighting"] == manifest["reweighting"] for b in fitted)
    assert [b["slice"] for b in board_json["boards"] if b["kind"] == "elo"] == ["overall"]
    # Only votes of that day count: the scenario's next-day votes wait for their own export.
    day_battles = [s for s in scenario_db.specs if s.voted_at.date() == EXPORT_DAY]
    assert manifest["rows"]["battles_considered"] == len(day_battles)
    rules = {r["rule"]: r["dropped"] for r in manifest["cleaning"]["rules"]}
    assert rules["removed"] == 6 and rules["excluded_vote"] == 7 and rules["daily_vote_cap"] == 4

    table = pq.read_table(folder / "battles.parquet")
    assert table.schema.equals(SCHEMA)
    # The ranked battles and, marked, the preset ones (not ranked, but released).
    assert manifest["rows"]["battles_preset"] == rules["preset"] == 3
    # The refinement battles too: released, counted on the refinement board only.
    assert manifest["rows"]["battles_refinement"] == rules["refinement"] == 2
    assert table.num_rows == manifest["rows"]["battles_parquet"] == (
        manifest["cleaning"]["kept"] + manifest["rows"]["battles_preset"]
        + manifest["rows"]["battles_refinement"])
    meta_fields = {f.name for f in table.schema.field("conv_metadata").type}
    assert {"sum_assistant_a_tokens", "sum_assistant_b_tokens", "header_count_a",
            "list_count_a", "bold_count_a", "header_count_b", "list_count_b",
            "bold_count_b", "emoji_count_a", "emoji_count_b", "entity_count_a",
            "entity_count_b"} <= meta_fields
    rows = table.to_pylist()
    ids = [r["question_id"] for r in rows]
    assert not {b.hex for b in scenario_db.removed_ids} & set(ids)
    assert [r["tstamp"] for r in rows] == sorted(r["tstamp"] for r in rows)
    refined = [r for r in rows if r["refinement_battle"]]
    assert len(refined) == 2
    for r in refined:  # the turn kinds, the feedback, the turn it refines, the ratings
        assert r["turn_kinds"] == ["question", "refinement"] and "refinement" in r["categories"]
        assert r["conversation_a"][2] == {"role": "user", "content": REFINEMENT_FEEDBACK}
        assert r["refinements"] == [{
            "turn": 1, "refines": 0, "feedback": REFINEMENT_FEEDBACK,
            "rating_a_before": REFINEMENT_RATINGS["a"][0],
            "rating_b_before": REFINEMENT_RATINGS["b"][0],
            "rating_a_after": REFINEMENT_RATINGS["a"][1],
            "rating_b_after": REFINEMENT_RATINGS["b"][1]}]
    assert all(r["refinements"] == [] and r["turn_kinds"] == ["question"]
               for r in rows if not r["refinement_battle"])
    by_id = {s.battle_id.hex: s for s in scenario_db.specs}
    row = rows[0]
    spec = by_id[row["question_id"]]
    assert (row["model_a"], row["model_b"], row["winner"]) == (spec.model_a, spec.model_b,
                                                               spec.winner)
    assert row["conversation_a"] == [{"role": "user", "content": spec.prompt},
                                     {"role": "assistant", "content": spec.answer_a}]
    assert row["anony"] is True and row["turn"] == 1 and row["judge"].startswith("arena_user_")
    assert str(spec.visitor) not in json.dumps(rows, default=str)
    assert row["conv_metadata"]["sum_assistant_b_tokens"] == len(spec.answer_b.split())

    html = (folder / "index.html").read_text()
    assert "<svg" in html and "alpha-vl" in html
    # Self-contained: nothing to fetch (no scripts, stylesheets or remote images).
    assert not re.search(r'(?:src|href)\s*=\s*"(?:https?:)?//', html)
    assert "<script" not in html and "<link" not in html and "<style>" in html

    csv_lines = (folder / "leaderboard.csv").read_text().splitlines()
    assert csv_lines[0] == "kind,slice,rank,model,rating,ci_lower,ci_upper,votes,status"
    assert len(csv_lines) - 1 == manifest["rows"]["leaderboard_csv"]

    # A second run without --force is skipped; with it, every byte is the same.
    before = tree_digest(folder)
    assert (await export_date(lb_sm, EXPORT_DAY, out, params=PARAMS)).status == "skipped"
    again = await export_date(lb_sm, EXPORT_DAY, out, params=PARAMS, force=True)
    assert again.status == "done"
    assert tree_digest(folder) == before

    async with lb_sm() as session:
        run = await session.get(ExportRun, EXPORT_DAY)
        assert run is not None and run.status == "done" and run.attempts == 2
        snaps = (await session.scalars(select(LeaderboardSnapshot).where(
            LeaderboardSnapshot.source == "export"))).all()
    assert {(s.kind, s.slice) for s in snaps} == {("default", "overall"), ("style", "overall"),
                                                  ("elo", "overall")}


async def _concurrent_exports(url: str, day: date, out: Path) -> list[str]:
    engines = [make_engine(url) for _ in range(2)]
    try:
        outcomes = await asyncio.gather(*(
            export_date(make_sessionmaker(e), day, out, params=PARAMS) for e in engines))
        return sorted(o.status for o in outcomes)
    finally:
        for e in engines:
            await e.dispose()


async def test_two_concurrent_exports_of_one_date_run_once_postgres(
    scenario_db, lb_pg_url: str, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    day = EXPORT_DAY + timedelta(days=1)
    assert await _concurrent_exports(lb_pg_url, day, tmp_path) == ["done", "skipped"]
    assert await asyncio.to_thread(os.listdir, tmp_path) == [day.isoformat()]


async def test_two_concurrent_exports_of_one_date_run_once_sqlite(tmp_path: Path) -> None:
    from app.db.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'arena.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            await add_models(session, sorted(STRENGTHS))
            visitors = await add_visitors(session, 10)
            await insert_battles(session, random_battles(60, seed=5, visitors=visitors))
    finally:
        await engine.dispose()
    statuses = await _concurrent_exports(url, EXPORT_DAY, tmp_path / "out")
    assert statuses == ["done", "skipped"]
    assert await asyncio.to_thread(
        (tmp_path / "out" / EXPORT_DAY.isoformat() / "manifest.json").exists)

    # The scheduler at 03:05 UTC two days later exports the day before (the due day),
    # then sleeps until tomorrow's run time; the date already done is not redone.
    engine = make_engine(url)
    try:
        sm = make_sessionmaker(engine)
        stop = asyncio.Event()
        clock = datetime.combine(EXPORT_DAY + timedelta(days=2), time(3, 5), tzinfo=UTC)
        task = asyncio.create_task(run_scheduler(sm, tmp_path / "out", at=time(3, 0),
                                                 params=PARAMS, stop=stop, now=lambda: clock))
        due = EXPORT_DAY + timedelta(days=1)
        for _ in range(300):
            async with sm() as session:
                row = await session.get(ExportRun, due)
            if row is not None and row.status == "done":
                break
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(task, 10)
        async with sm() as session:
            rows = (await session.scalars(select(ExportRun).order_by(ExportRun.date))).all()
    finally:
        await engine.dispose()
    assert [(r.date, r.status, r.attempts) for r in rows] == [
        (EXPORT_DAY, "done", 1), (due, "done", 1)]


def test_scheduler_picks_the_due_day() -> None:
    at = time(3, 0)
    assert due_day(datetime(2026, 11, 22, 3, 0, tzinfo=UTC), at) == date(2026, 11, 21)
    assert due_day(datetime(2026, 11, 22, 2, 59, tzinfo=UTC), at) == date(2026, 11, 20)


def test_cli_export(scenario_db, lb_pg_url: str,  # type: ignore[no-untyped-def]
                    tmp_path: Path) -> None:
    """`arena export` as cron runs it: a separate process, settings from the environment."""
    env = {**os.environ, "ARENA_DATABASE_URL": lb_pg_url, "ARENA_DATA_DIR": str(tmp_path),
           "COLUMNS": "120"}
    day = EXPORT_DAY + timedelta(days=2)  # no votes after the scenario's days: still exports
    common = ["--bootstrap", "20", "--min-slice-votes", "1000000"]
    done = subprocess.run(
        [sys.executable, "-m", "arena_cli", "export", "--date", day.isoformat(),
         "--out", str(tmp_path / "x"), *common],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr + done.stdout
    assert f"{day}: wrote" in done.stdout
    assert (tmp_path / "x" / day.isoformat() / "battles.parquet").exists()


def test_cli_leaderboard_prints_and_stores(scenario_db, lb_pg_url: str,  # type: ignore[no-untyped-def]
                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from app.config import get_settings
    from arena_cli.main import cli

    monkeypatch.setenv("ARENA_DATABASE_URL", lb_pg_url)
    monkeypatch.setenv("ARENA_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["leaderboard", "--bootstrap", "20",
                                          "--min-slice-votes", "1000000"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "stored snapshot run" in result.output
    lines = [line for line in result.output.splitlines() if "-vl" in line]
    ranked = [next(m for m in STRENGTHS if m in line) for line in lines[:4]]
    assert ranked == sorted(STRENGTHS, key=STRENGTHS.get, reverse=True)
    assert "ties: ties count as half a win for each side" in result.output

    # the arena's tie rule (ARENA_LEADERBOARD_TIES), and the option over it
    monkeypatch.setenv("ARENA_LEADERBOARD_TIES", "ignore")
    outputs = []
    for extra in ([], ["--ties", "grounded"]):
        get_settings.cache_clear()
        try:
            r = CliRunner().invoke(cli, ["leaderboard", "--bootstrap", "20",
                                         "--min-slice-votes", "1000000", *extra])
        finally:
            get_settings.cache_clear()
        assert r.exit_code == 0, r.output
        outputs.append(r.output)
    assert "ties: ties are left out; only decisive votes count" in outputs[0]
    assert "usable-answer line rates" in outputs[1] and "both are bad" in outputs[1]
    bad = CliRunner().invoke(cli, ["leaderboard", "--ties", "coin"])
    assert bad.exit_code == 2 and "'coin' is not one of" in bad.output
