"""Bench runs through real workers (in this process, on PostgreSQL): the three demo models
answer, the demo judge (shapes-judge, a trained model) compares each answer with the
anchor's in both orders.

- the judge's verdicts agree with the shapes checker about as often as its card says, the
  clear accuracy gap between the demo models shows, and the stored result's agreement with
  a leaderboard snapshot equals the one computed independently;
- a real model biased to position A ("[[A>B]]" for everything) gives ties, not a winner;
- a run stopped midway and started again makes no judgment twice and ends with the result
  of an uninterrupted run (a second database) with the same seed;
- bad input (an offline candidate, an unknown template version, a template of the wrong
  kind) gets a clear message and writes no run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.bench.build import BuildParams, build_bench
from app.bench.embed import PerceptualImageEmbedder
from app.bench.files import Bench
from app.bench.runner import BenchRunError, RunParams, run_bench
from app.db.bench_tables import BenchResult
from app.db.judge_tables import JudgeRun, Judgment
from app.db.leaderboard_tables import LeaderboardSnapshot
from app.db.session import make_engine, make_sessionmaker
from app.judges import preferred_side
from app.judges.templates import UnknownTemplate
from app.ranking.agreement import confidence_agreement, kendall_tau, separability, spearman
from app.storage.blobs import LocalBlobStore
from tests.bench.helpers import HashTextEmbedder
from tests.bench.world import (
    DEMO,
    JUDGE,
    JUDGE_DIR,
    JUDGE_OPTIONS,
    Arena,
    checker_side,
    demo_battles,
    judge_card,
)

pytestmark = pytest.mark.timeout(600)
SMALL, MEDIUM, LARGE = "shapes-small", "shapes-medium", "shapes-large"
TRANSFORMERS = {"num_threads": 1}


@pytest.fixture(scope="module")
async def world(bench_pg_url: str, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A bench of 12 demo questions, three demo models and the demo judge, running."""
    judge_card()  # the judge ships with the repository: its absence is a failure in CI
    tmp = tmp_path_factory.mktemp("bench-run")
    engine = make_engine(bench_pg_url)
    sm = make_sessionmaker(engine)
    blobs = LocalBlobStore(tmp / "blobs")
    scenes = await demo_battles(sm, blobs, 12)
    bench = await build_bench(sm, blobs, tmp / "benches", BuildParams(n=12, seed=0),
                              text_embedder=HashTextEmbedder(),
                              image_embedder=PerceptualImageEmbedder())
    arena = Arena(sm, blobs)
    for name, path in DEMO.items():
        await arena.register(name, "transformers", str(path), TRANSFORMERS)
    await arena.register(JUDGE, "transformers", str(JUDGE_DIR), JUDGE_OPTIONS, role="judge")
    await arena.register("offline-model", "transformers", str(DEMO[SMALL]), TRANSFORMERS)
    for name in (*DEMO, JUDGE):
        await arena.start(name)
    try:
        yield sm, arena, bench, scenes, tmp
    finally:
        await arena.stop()
    await engine.dispose()


def params(**kw) -> RunParams:  # type: ignore[no-untyped-def]
    base = dict(models=(SMALL, LARGE), anchor=MEDIUM, judge=JUDGE, n_bootstrap=50,
                seed=1, timeout_s=300)
    return RunParams(**(base | kw))  # type: ignore[arg-type]


async def judge_calls(sm: async_sessionmaker) -> int:
    """Judgments the demo judge has made (each row is one call; a retry would bump attempts)."""
    async with sm() as s:
        rows = (await s.scalars(select(Judgment.attempts).where(
            Judgment.judge_model == JUDGE, Judgment.task == "bench-pairwise"))).all()
    return sum(rows)


async def counts(sm: async_sessionmaker) -> tuple[int, int, int]:
    async with sm() as s:
        runs = await s.scalar(select(func.count()).select_from(JudgeRun))
        rows = await s.scalar(select(func.count()).select_from(Judgment))
        results = await s.scalar(select(func.count()).select_from(BenchResult))
    return int(runs or 0), int(rows or 0), int(results or 0)


async def test_demo_judge_ranks_the_demo_models_by_accuracy(world) -> None:  # type: ignore[no-untyped-def]
    sm, arena, bench, scenes, _ = world
    result = await run_bench(sm, arena.queue, arena.blobs, bench, params())
    rows = {r.model: r for r in result.score.rows}
    # 12 questions are few: only the clear gap (83% vs 27% held out) must show; the
    # trained judge's 60-question test checks the whole order.
    assert result.score.rows[0].model == LARGE
    assert rows[LARGE].win_rate > 50 and rows[LARGE].win_rate > rows[SMALL].win_rate  # type: ignore[operator]
    assert rows[MEDIUM].anchor and rows[MEDIUM].win_rate == 50.0
    # the judge's card: 100% of its bench verdicts parse (greedy decoding: deterministic)
    assert result.score.unparsable == 0 and result.score.failed == 0, result.score.as_json()
    assert all(r.answer_tokens and r.answer_tokens > 0 for r in result.score.rows)
    assert rows[LARGE].questions == rows[SMALL].questions == 12
    # 2 candidates x 12 questions x 2 orders (fewer when two answers are the same text)
    async with sm() as s:
        verdicts = (await s.scalars(select(Judgment).where(
            Judgment.task == "bench-pairwise"))).all()
    assert 0 < len(verdicts) <= 48 and await judge_calls(sm) == len(verdicts)
    assert {j.form for j in verdicts} == {"short"}
    assert all(j.parsed and j.parsed["type"] == "Verdict" for j in verdicts)
    # the verdicts agree with the checker on the stored answers as the judge's card says
    agree = [preferred_side(j.parsed["value"]) == checker_side(
        scenes[j.inputs["image"]["$image_sha256"]], j.inputs["question"],
        j.inputs["answer_a"], j.inputs["answer_b"]) for j in verdicts]
    card = judge_card()["templates"]["demo_answers"]["agreement"]
    assert sum(agree) / len(agree) >= card - 0.2, (sum(agree), len(agree), card)
    assert result.agreement is None  # no leaderboard snapshot yet
    stored = json.loads(result.result_file.read_text())  # type: ignore[union-attr]
    assert stored == json.loads(json.dumps(result.as_json()))

    # With an arena snapshot, the stored agreement equals the one computed from the two
    # rankings independently.
    arena_rows = [{"model": LARGE, "rating": 1100.0, "ci_lower": 1080.0, "ci_upper": 1120.0},
                  {"model": MEDIUM, "rating": 1000.0, "ci_lower": 980.0, "ci_upper": 1020.0},
                  {"model": SMALL, "rating": 900.0, "ci_lower": 880.0, "ci_upper": 920.0}]
    async with sm() as s:
        s.add(LeaderboardSnapshot(
            run_id=uuid.uuid4(), cutoff=func.now(), kind="default", slice="overall",
            payload={"rows": [{**r, "rank": i + 1, "votes": 100}
                              for i, r in enumerate(arena_rows)],
                     "ci_level": 0.95, "ci_method": "bootstrap"},
            plots={}, cleaning={}, code_version="t", seed=0,
            n_battles_total=0, n_battles_used=0))
        await s.commit()
    again = await run_bench(sm, arena.queue, arena.blobs, bench, params())
    assert again.score.as_json() == result.score.as_json()  # nothing new was judged
    assert await judge_calls(sm) == len(verdicts)
    a = again.agreement
    assert a is not None
    arena_iv = {r["model"]: (r["ci_lower"], r["ci_upper"], r["rating"]) for r in arena_rows}
    bench_iv = {r.model: (r.ci_lower, r.ci_upper, r.win_rate) for r in again.score.rows}
    assert a["spearman"] == spearman({m: v[2] for m, v in arena_iv.items()},
                                     {m: v[2] for m, v in bench_iv.items()})
    assert a["kendall_tau"] == kendall_tau({m: v[2] for m, v in arena_iv.items()},
                                           {m: v[2] for m, v in bench_iv.items()})
    assert a["confidence_agreement"] == confidence_agreement(arena_iv, bench_iv)
    assert a["separability"] == separability(bench_iv)


async def test_bad_input_gets_a_clear_message_and_writes_no_run(world) -> None:  # type: ignore[no-untyped-def]
    sm, arena, bench, _, _ = world
    before = await counts(sm)
    with pytest.raises(BenchRunError, match=r"\['offline-model'\] have no live worker"):
        await run_bench(sm, arena.queue, arena.blobs, bench,
                        params(models=(SMALL, "offline-model")))
    with pytest.raises(BenchRunError, match=r"unknown model\(s\) \['nobody'\]"):
        await run_bench(sm, arena.queue, arena.blobs, bench, params(judge="nobody"))
    with pytest.raises(UnknownTemplate, match="has no version 9; available versions: 1"):
        await run_bench(sm, arena.queue, arena.blobs, bench,
                        params(judge_template="bench-pairwise@9"))
    with pytest.raises(UnknownTemplate, match="unknown template 'answers'"):
        await run_bench(sm, arena.queue, arena.blobs, bench, params(answer_template="answers@1"))
    with pytest.raises(BenchRunError, match="is a 'category' template"):
        await run_bench(sm, arena.queue, arena.blobs, bench, params(judge_template="category@1"))
    with pytest.raises(BenchRunError, match="no candidate models"):
        await run_bench(sm, arena.queue, arena.blobs, bench, params(models=(MEDIUM,)))
    assert await counts(sm) == before


async def test_a_judge_biased_to_position_a_gives_ties(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.bench.world import train_position_biased_judge

    sm, arena, bench, _, _ = world
    path = await asyncio.to_thread(train_position_biased_judge, tmp_path / "biased", 20)
    await arena.register("biased-judge", "transformers", str(path),
                         {**TRANSFORMERS, "judge_form": "short"}, role="judge")
    await arena.start("biased-judge")
    small = Bench(bench.path, bench.version, bench.manifest, bench.questions[:6])
    result = await run_bench(sm, arena.queue, arena.blobs, small,
                             params(judge="biased-judge"), store=False)
    async with sm() as s:
        raw = (await s.scalars(select(Judgment.raw_output).where(
            Judgment.judge_model == "biased-judge"))).all()
    assert raw and set(raw) == {"[[A>B]]"}  # a real model, with a real bias
    for r in result.score.rows:
        assert r.win_rate == pytest.approx(50.0, abs=0.01), r
        if not r.anchor:
            assert r.verdicts["better"] == r.verdicts["worse"] > 0
            assert r.reward == 0.0 and r.consistent == 0.0


async def test_resume_after_a_kill_redoes_nothing_and_equals_an_uninterrupted_run(
        world, second_pg_url: str) -> None:  # type: ignore[no-untyped-def]
    """The bench run is cancelled while judgments are under way (what killing the CLI
    does: the rows and queued jobs stay), then started again."""
    sm, arena, bench, _, tmp = world
    p = params(models=(SMALL, MEDIUM), anchor=LARGE, seed=4)  # new pairs: anchor LARGE
    task = asyncio.create_task(run_bench(sm, arena.queue, arena.blobs, bench, p))

    async def judged() -> int:
        async with sm() as s:
            return int(await s.scalar(select(func.count()).select_from(Judgment).where(
                Judgment.task == "bench-pairwise", Judgment.meta["anchor"].as_string() == LARGE,
                Judgment.status == "done")) or 0)

    while await judged() < 2:
        assert not task.done(), "the run ended before it could be stopped"
        await asyncio.sleep(0.05)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    resumed = await run_bench(sm, arena.queue, arena.blobs, bench, p)
    async with sm() as s:
        rows = (await s.scalars(select(Judgment).where(
            Judgment.task == "bench-pairwise", Judgment.meta["anchor"].as_string() == LARGE))
                ).all()
    assert rows and all(j.status == "done" and j.attempts == 1 for j in rows)
    keys = [(j.judge_model, j.inputs_hash) for j in rows]
    assert len(keys) == len(set(keys))

    # The same bench, models and seed, uninterrupted, in a fresh database.
    engine = make_engine(second_pg_url)
    sm2 = make_sessionmaker(engine)
    other = Arena(sm2, arena.blobs)
    try:
        for name in (SMALL, MEDIUM, LARGE):
            await other.register(name, "transformers", str(DEMO[name]), TRANSFORMERS)
        await other.register(JUDGE, "transformers", str(JUDGE_DIR), JUDGE_OPTIONS,
                             role="judge")
        for name in (SMALL, MEDIUM, LARGE, JUDGE):
            await other.start(name)
        fresh = await run_bench(sm2, other.queue, other.blobs, bench, p, store=False)
    finally:
        await other.stop()
        await engine.dispose()
    assert fresh.score.as_json() == resumed.score.as_json()
    assert fresh.missing_answers == resumed.missing_answers == {}


async def test_nightly_adds_new_models_and_the_page_and_export_show_the_bench(
        world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A model new since the latest result is answered and judged by the nightly part,
    reusing everything that exists (a copy of shapes-small answers as it does, so the judge
    is asked nothing new); the leaderboard's bench tab and the export show the result."""
    import httpx
    import yaml

    from app.bench.nightly import export_files, run_nightly
    from app.config import Settings
    from app.web.main import create_app

    sm, arena, bench, _, _ = world
    await run_bench(sm, arena.queue, arena.blobs, bench, params())  # the latest result
    calls = await judge_calls(sm)
    await arena.register("shapes-small-copy", "transformers", str(DEMO[SMALL]), TRANSFORMERS)
    await arena.start("shapes-small-copy")
    outcomes = await run_nightly(sm, arena.queue, arena.blobs, timeout_s=300)
    mine = next(o for o in outcomes if o.bench_version == bench.version)
    assert mine.status == "scored" and mine.new_models == ("shapes-small-copy",)
    assert await judge_calls(sm) == calls
    async with sm() as s:
        latest = (await s.scalars(select(BenchResult).order_by(
            BenchResult.created_at.desc()).limit(1))).one()
    assert latest.source == "nightly" and "shapes-small-copy" in latest.models
    by = {r["model"]: r for r in latest.score["rows"]}
    assert by["shapes-small-copy"]["verdicts"] == by[SMALL]["verdicts"]
    again = await run_nightly(sm, arena.queue, arena.blobs, timeout_s=300)
    assert next(o for o in again if o.bench_version == bench.version).status == "unchanged"

    payload = {"rows": [{"model": LARGE, "rating": 1050.0, "ci_lower": 1000.0,
                         "ci_upper": 1100.0}, {"model": SMALL, "rating": 950.0,
                                               "ci_lower": 900.0, "ci_upper": 990.0}]}
    files = await export_files(sm, payload)
    doc = json.loads(files[f"bench/{bench.version}.json"])
    assert doc["agreement"]["models"] == [LARGE, SMALL] and doc["anchor"] == MEDIUM
    # the nightly export carries it, listed in its manifest
    from datetime import date

    from app.bench.nightly import export_extra
    from workers.export import export_date

    out = await export_date(sm, date(2026, 11, 2), tmp_path / "exports",
                            extras=[export_extra])
    rel = f"bench/{bench.version}.json"
    assert rel in out.manifest["files"] and (out.out_dir / rel).is_file()  # type: ignore[operator]

    models_file = tmp_path / "models.yaml"
    models_file.write_text(yaml.safe_dump({"models": [
        {"name": n, "backend": "transformers", "path": str(p)} for n, p in DEMO.items()]}))
    app = create_app(Settings(database_url=str(sm.kw["bind"].url.render_as_string(
        hide_password=False)), redis_url=None, data_dir=tmp_path, models_file=models_file,
        moderation_enabled=False, secret_key="bench-tests-secret-0123456789",
        ip_hash_salt="bench-salt"))
    transport = httpx.ASGITransport(app=app)
    async with (app.router.lifespan_context(app),
                httpx.AsyncClient(transport=transport, base_url="http://testserver") as client):
        page = await client.get("/leaderboard")
        assert '<option value="bench">Bench</option>' in page.text
        tab = await client.get("/leaderboard", params={"kind": "bench"})
    assert tab.status_code == 200 and 'id="bench-table"' in tab.text
    assert f"VisionArena-Bench {bench.version}" in tab.text
    assert "shapes-small-copy" in tab.text and 'id="bench-agreement"' in tab.text
