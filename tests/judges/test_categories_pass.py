"""The category classifier on PostgreSQL: a pass through the real worker and a real model,
a new template version that keeps the old labels until its run has finished, the slices
the leaderboard then computes, and the `arena categories` / `arena judge` commands.

The pass runs twice: with the trained demo judge (models/demo/shapes-judge) the demo set's
labels are checked against the shapes world's truth at the judge's measured accuracy (its
eval.json); with a tiny untrained model as the judge (garbage out) every label it gives must
be `unparsable`: counted, never guessed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.config import REPO_ROOT
from app.db.category_tables import CategoryLabel
from app.db.judge_tables import JudgeRun, Judgment
from app.db.models import Battle, Generation, ImageBlob, ModelEntry, Turn, Visitor, Vote
from app.db.session import make_engine, make_sessionmaker
from app.demo.questions import Question, make_question, reference_answer
from app.demo.shapes import Scene, random_scene, render_png
from app.judges.categories import (
    CategorySet,
    LabelVersion,
    apply_finished,
    category_set_from_dict,
    default_set,
    load_category_set,
    start_pass,
    version_status,
)
from app.judges.results import ParseFailure
from app.judges.runs import RunError, run_progress
from app.judges.templates import TemplateRegistry, get_template, parse_output, template_from_dict
from app.leaderboard.compute import LeaderboardParams
from app.leaderboard.pipeline import compute_run
from app.queue import WorkerInfo
from app.queue.memory_queue import MemoryQueue
from app.storage.blobs import LocalBlobStore
from tests.conftest import _pg_admin, require_file
from workers import judgment_store
from workers.engines.base import EngineConfig
from workers.engines.factory import make_engine as make_model_engine
from workers.judge_jobs import parsed_json
from workers.worker import Worker

ANSWER_MODELS = ("cat-alpha", "cat-beta")
SHAPES_JUDGE = REPO_ROOT / "models" / "demo" / "shapes-judge"
DEMO_SET = REPO_ROOT / "app" / "demo" / "categories.yaml"


# ---------------------------------------------------------------- database and seeding

@pytest.fixture(scope="module")
def cat_pg_url(pg_url: str) -> Iterator[str]:
    """A database of this module's own: the leaderboard reads every voted battle in it."""
    from app.db.migrate import upgrade

    name = f"arena_cat_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = f"{pg_url.rsplit('/', 1)[0]}/{name}"
    upgrade(url)
    yield url
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def sm(cat_pg_url: str) -> AsyncIterator[async_sessionmaker]:
    engine = make_engine(cat_pg_url)
    maker = make_sessionmaker(engine)
    async with maker() as session:
        for name in ANSWER_MODELS:
            if await session.get(ModelEntry, name) is None:
                session.add(ModelEntry(name=name, backend="openai"))
        await session.commit()
    yield maker
    await engine.dispose()


@dataclass(frozen=True)
class Seeded:
    battle_id: uuid.UUID
    scene: Scene | None
    question: Question | None


async def seed_battles(sm: async_sessionmaker, blobs: LocalBlobStore, n: int, *, seed: int,
                       prompts: list[str] | None = None, with_image: bool = True,
                       ) -> list[Seeded]:
    """`n` voted, finished, clean battles about shapes scenes (distinct scenes)."""
    rng = random.Random(seed)
    out = []
    start = datetime.now(UTC) - timedelta(hours=1)
    async with sm() as session:
        for i in range(n):
            scene = random_scene(seed * 10_000 + i)
            question = make_question(scene, rng)
            prompt = prompts[i % len(prompts)] if prompts else question.text
            sha = None
            if with_image:
                png = render_png(scene)
                sha = await blobs.put(png)
                if await session.get(ImageBlob, sha) is None:
                    session.add(ImageBlob(sha256=sha, phash="0" * 16, width=224, height=224,
                                          bytes=len(png), mime="image/png"))
            visitor = Visitor(ip_hash=f"{seed:032d}{i:032d}"[-64:])
            session.add(visitor)
            await session.flush()
            a, b = ANSWER_MODELS if i % 2 else ANSWER_MODELS[::-1]
            battle = Battle(visitor_id=visitor.id, mode="anonymous", model_a=a, model_b=b,
                            image_sha256=sha, ip_hash=visitor.ip_hash, language="en",
                            created_at=start + timedelta(seconds=i))
            turn = Turn(battle=battle, index=0, prompt=prompt, created_at=battle.created_at)
            right = reference_answer(question, scene)
            for side, model, text in (("a", a, right), ("b", b, "I do not know.")):
                Generation(turn=turn, side=side, model=model, status="done", text=text,
                           completion_tokens=len(text.split()),
                           finished_at=battle.created_at)
            session.add(battle)
            await session.flush()
            session.add(Vote(battle_id=battle.id, visitor_id=visitor.id,
                             winner=rng.choice(["model_a", "model_b", "tie"]), anonymous=True,
                             ip_hash=visitor.ip_hash,
                             created_at=battle.created_at + timedelta(seconds=30)))
            out.append(Seeded(battle.id, scene, question))
        await session.commit()
    return out


async def battle_categories(sm: async_sessionmaker, ids: list[uuid.UUID]) -> dict[uuid.UUID,
                                                                                 list[str]]:
    async with sm() as session:
        rows = (await session.execute(select(Battle.id, Battle.categories)
                                      .where(Battle.id.in_(ids)))).all()
    return {i: list(c) for i, c in rows}


async def labels_of(sm: async_sessionmaker, version: LabelVersion,
                    ids: list[uuid.UUID]) -> list[CategoryLabel]:
    async with sm() as session:
        return list((await session.scalars(select(CategoryLabel).where(
            version.matches(), CategoryLabel.battle_id.in_(ids)))).all())


async def wait_applied(sm: async_sessionmaker, run_id: uuid.UUID, within_s: float = 240) -> Any:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        async with sm() as session:
            applied = await apply_finished(session, [run_id])
        if applied:
            return applied[0]
        assert asyncio.get_running_loop().time() < deadline, "the category run did not finish"
        await asyncio.sleep(0.2)


def category_eval(model_dir: Path) -> dict[str, Any]:
    """The judge's measured category@1 results from its eval.json (wherever nested)."""
    doc = json.loads((model_dir / "eval.json").read_text())
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            entry = node.get("category@1")
            if isinstance(entry, dict) and "agreement" in entry:
                return entry
            stack.extend(node.values())
    raise AssertionError(f"{model_dir}/eval.json has no category@1 agreement")


async def register_judge(sm: async_sessionmaker, name: str, path: Path) -> ModelEntry:
    async with sm() as session:
        entry = await session.get(ModelEntry, name)
        if entry is None:
            entry = ModelEntry(name=name, backend="transformers", path=str(path), role="judge",
                               ranked=False, concurrency=4, max_new_tokens=32,
                               options={"num_threads": 1, "judge_form": "short"})
            session.add(entry)
            await session.commit()
        return entry


@contextlib.asynccontextmanager
async def running_worker(sm: async_sessionmaker, queue: MemoryQueue, entry: ModelEntry,
                         blobs: LocalBlobStore) -> AsyncIterator[None]:
    engine = make_model_engine(EngineConfig(name=entry.name, backend=entry.backend,
                                            path=entry.path, options=entry.options))
    worker = Worker(model=entry.name, engine=engine, queue=queue, sessionmaker=sm, blobs=blobs,
                    concurrency=4, batch_share=1.0, sweep_interval_s=60)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 60)


# ---------------------------------------------------------------- the pass, end to end

@pytest.mark.parametrize("trained", [True, False], ids=["shapes-judge", "garbage-judge"])
async def test_a_pass_labels_new_battles_through_the_worker_and_a_real_model(
    sm: async_sessionmaker, tmp_path: Path, request: pytest.FixtureRequest, trained: bool,
) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    queue = MemoryQueue()
    if trained:
        require_file(SHAPES_JUDGE / "eval.json", "the demo judge",
                     "train it: .venv/bin/python scripts/train_demo_judge.py")
        judge, path, cset, n = "shapes-judge", SHAPES_JUDGE, load_category_set(DEMO_SET), 20
    else:
        # VisionArena's set, one category of each kind of input (a CPU-friendly subset)
        full = default_set()
        cset = CategorySet("visionarena-subset", full.template, tuple(
            full.get(c) for c in ("captioning", "diagram", "ocr", "refusal")))
        judge, path, n = "tiny-judge", request.getfixturevalue("tiny_models")["tiny-alpha"], 2
    entry = await register_judge(sm, judge, path)
    battles = await seed_battles(sm, blobs, n, seed=11)
    bare = await seed_battles(sm, blobs, 1, seed=12, with_image=False)  # no image
    ids = [b.battle_id for b in battles + bare]
    async with sm() as session:  # the judge has no worker yet: nothing is written
        with pytest.raises(RunError, match="no live worker"):
            await start_pass(session, queue, cset, judge, battle_ids=ids)
    version = LabelVersion.of(cset, judge)
    assert await labels_of(sm, version, ids) == []

    async with running_worker(sm, queue, entry, blobs):
        await asyncio.sleep(0.2)  # first heartbeat
        async with sm() as session:
            started = await start_pass(session, queue, cset, judge, battle_ids=ids)
        assert started.battles == n + 1 and started.run_id is not None
        assert started.labels == (n + 1) * len(cset.categories)
        needs_image = [c for c in cset.categories if "image" in c.inputs]
        assert started.skipped == len(needs_image)  # the battle without an image
        # battles with equal inputs (a prompt-only category, one prompt) share a judgment
        assert started.judgments <= started.labels - started.skipped
        applied = await wait_applied(sm, started.run_id)

    labels = await labels_of(sm, version, ids)
    assert len(labels) == started.labels and all(lb.active for lb in labels)
    by_decision: dict[str, int] = {}
    for lb in labels:
        by_decision[lb.decision or "pending"] = by_decision.get(lb.decision or "pending", 0) + 1
    assert by_decision.get("skipped") == started.skipped and "pending" not in by_decision
    assert applied.switched == n + 1
    async with sm() as session:
        progress = await run_progress(session, started.run_id)
        run = await session.get(JudgeRun, started.run_id)
        judgments = (await session.scalars(
            select(Judgment).where(Judgment.run_id == started.run_id))).all()
        status = await version_status(session, version)
    assert progress.complete and progress.total == started.judgments and run.status == "done"
    assert all(j.sampling["temperature"] == 0.0 and j.form == "short" for j in judgments)
    assert all(j.raw_output is not None for j in judgments)
    assert status.decisions["unparsable"] == by_decision.get("unparsable", 0)
    categories = await battle_categories(sm, ids)

    if not trained:
        # A judge that returns garbage gives no label at all: every judged label is
        # `unparsable` (counted in the run and the status), none became yes or no.
        assert set(by_decision) == {"unparsable", "skipped"}
        assert progress.parse_failures == progress.total
        assert all(c == [] for c in categories.values())
        return

    # The trained judge: its labels agree with the shapes world's truth about as often as
    # its model card says (measured on held-out items: eval.json).
    from app.demo.categories import TRUTH

    measured = category_eval(SHAPES_JUDGE)
    truth = {b.battle_id: b for b in battles}
    judged = [lb for lb in labels if lb.battle_id in truth and lb.decision in ("yes", "no")]
    parsed_rate = len(judged) / sum(1 for lb in labels if lb.battle_id in truth)
    agree = sum((lb.decision == "yes") == TRUTH[lb.category](truth[lb.battle_id].question,
                                                             truth[lb.battle_id].scene)
                for lb in judged) / len(judged)
    # The card's agreement per category (balanced items), weighted as these labels are.
    by_kind = measured.get("by_kind", {})
    expected = sum(by_kind.get(lb.category, measured["agreement"]) for lb in judged) / len(judged)
    assert parsed_rate >= measured.get("parse_rate", 1.0) - 0.1
    assert abs(agree - expected) <= 0.15, (agree, expected, measured)
    for battle_id, names in categories.items():
        yes = sorted(lb.category for lb in labels
                     if lb.battle_id == battle_id and lb.decision == "yes")
        assert names == yes
    # A category slice appears on the leaderboard once it has the threshold's battles.
    name = max(cset.names, key=lambda c: sum(c in v for v in categories.values()))
    await assert_slice_threshold(sm, name)


async def assert_slice_threshold(sm: async_sessionmaker, category: str) -> None:
    async def boards(threshold: int) -> Any:
        return await compute_run(sm, params=LeaderboardParams(min_slice_votes=threshold,
                                                              n_bootstrap=10))

    run = await boards(10**6)
    count = sum(category in b.categories for b in run.kept)
    assert count > 0
    assert run.board("default", f"category:{category}") is None
    assert run.skipped_slices[f"category:{category}"] == count
    run = await boards(count)
    board = run.board("default", f"category:{category}")
    assert board is not None and board.n_battles == count
    assert f"category:{category}" not in run.skipped_slices


# ---------------------------------------------------------------- versions

SWITCH_JUDGE = "switch-judge"
COUNTING = "How many shapes are there?"


def _category_template(version: int) -> Any:
    """category@1 as it is, under another version number (a new template version)."""
    raw = yaml.safe_load(get_template("category", 1).source.read_text())  # type: ignore[union-attr]
    raw["version"] = version
    return template_from_dict(raw)


REGISTRY = TemplateRegistry([_category_template(v) for v in (1, 2)])


def _switch_set(question: str = "Does the prompt ask how many shapes there are?") -> CategorySet:
    return category_set_from_dict({"name": "switch", "template": "category@1", "categories": [
        {"name": "counting", "sees": "prompt", "question": question},
        {"name": "busy", "sees": "image", "question": "Are there several shapes?"},
    ]}, registry=REGISTRY)


async def answer(sm: async_sessionmaker, run_id: uuid.UUID, reply: Any,
                 limit: int | None = None) -> int:
    """Answer the run's queued judgments as a worker does (fenced attempt, the template's
    own strict parser); `reply(judgment)` is the judge's raw output."""
    async with sm() as session:
        queued = list((await session.scalars(
            select(Judgment).where(Judgment.run_id == run_id, Judgment.status == "queued")
            .order_by(Judgment.created_at, Judgment.id))).all())[:limit]
    for j in queued:
        async with sm() as session:
            ctx = await judgment_store.begin_attempt(session, str(j.id), "acting-worker")
        assert ctx is not None
        raw = reply(j)
        result = parse_output(REGISTRY.get(j.task, j.template_version), raw, j.inputs)
        failure = str(result) if isinstance(result, ParseFailure) else None
        async with sm() as session:
            assert await judgment_store.save_result(
                session, str(j.id), ctx.attempt, raw_output=raw,
                parsed=None if failure else parsed_json(result), parse_error=failure,
                prompt_tokens=7, completion_tokens=3, latency_ms=1.0)
    return len(queued)


def decision(yes: bool) -> str:
    return f"<decision>{'yes' if yes else 'no'}</decision>"


async def test_a_new_template_version_keeps_the_old_labels_until_its_run_has_finished(
    sm: async_sessionmaker, tmp_path: Path,
) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    queue = MemoryQueue()
    await queue.heartbeat(WorkerInfo(worker_id="acting", model=SWITCH_JUDGE), 600)
    async with sm() as session:
        session.add(ModelEntry(name=SWITCH_JUDGE, backend="openai", role="judge", ranked=False,
                               options={"judge_form": "short"}))
        await session.commit()
    seeded = await seed_battles(sm, blobs, 6, seed=21,
                                prompts=[COUNTING, "What colour is the shape on the left?"])
    ids = [b.battle_id for b in seeded]
    counting = {b.battle_id for k, b in enumerate(seeded) if k % 2 == 0}
    v1 = _switch_set()
    v2 = v1.with_template(REGISTRY.get("category", 2))
    version1, version2 = LabelVersion.of(v1, SWITCH_JUDGE), LabelVersion.of(v2, SWITCH_JUDGE)
    assert version1 != version2 and version1.set_digest == version2.set_digest

    async def start(cset: CategorySet) -> Any:
        async with sm() as session:
            return await start_pass(session, queue, cset, SWITCH_JUDGE, battle_ids=ids)

    async def apply(run_id: uuid.UUID) -> list[Any]:
        async with sm() as session:
            return await apply_finished(session, [run_id])

    # Version 1: the garbage answer for one image is counted as unparsable, never a label.
    first = await start(v1)
    assert (first.battles, first.labels) == (6, 12)
    assert first.judgments == 2 + 6  # one per distinct prompt, one per image
    garbage_image = seeded[1].battle_id

    def reply_v1(j: Judgment) -> str:
        if j.meta["category"] == "counting":
            return f"Mine: count. {decision(j.inputs['prompt'] == COUNTING)}"
        return "blue circle" if j.inputs["image"] == {"$image_sha256": _sha(seeded, 1)} \
            else decision(True)

    assert await answer(sm, first.run_id, reply_v1, limit=7) == 7
    assert await apply(first.run_id) == []  # one judgment still runs: nothing switches
    assert set(map(tuple, (await battle_categories(sm, ids)).values())) == {()}
    await answer(sm, first.run_id, reply_v1)
    (applied,) = await apply(first.run_id)
    assert applied.switched == 6 and applied.decisions == {"yes": 8, "no": 3, "unparsable": 1}
    after_v1 = await battle_categories(sm, ids)
    for b in ids:
        want = ({"counting"} if b in counting else set()) | ({"busy"} if b != garbage_image
                                                             else set())
        assert set(after_v1[b]) == want
    assert (await start(v1)).battles == 0  # every battle has version 1's labels

    # Version 2 answers the opposite. Half done: every battle still shows version 1.
    second = await start(v2)
    assert (second.battles, second.judgments) == (6, 8)

    def reply_v2(j: Judgment) -> str:
        return decision(j.meta["category"] == "counting" and j.inputs["prompt"] != COUNTING)

    await answer(sm, second.run_id, reply_v2, limit=4)
    assert await apply(second.run_id) == []
    assert await battle_categories(sm, ids) == after_v1
    assert all(lb.active for lb in await labels_of(sm, version1, ids))
    pending = await labels_of(sm, version2, ids)
    assert len(pending) == 12 and not any(lb.active for lb in pending)
    await answer(sm, second.run_id, reply_v2)
    (applied,) = await apply(second.run_id)
    assert applied.switched == 6
    after_v2 = await battle_categories(sm, ids)
    assert after_v2 == {b: ([] if b in counting else ["counting"]) for b in ids}
    old = await labels_of(sm, version1, ids)  # kept, no longer shown
    assert len(old) == 12 and not any(lb.active for lb in old)
    async with sm() as session:
        s1, s2 = await version_status(session, version1), await version_status(session, version2)
    assert (s1.decisions["unparsable"], s1.battles_active, s2.battles_active) == (1, 0, 6)
    assert s2.yes_by_category == {"counting": 3} and s2.pending == 0

    # Two reworded sets: the one started later wins, whichever run finishes first.
    older, newer = await start(_switch_set("Is it a counting question?")), None
    newer = await start(_switch_set("Does it ask for a number of shapes?"))
    await answer(sm, newer.run_id, lambda j: decision(True))
    (applied,) = await apply(newer.run_id)
    assert applied.switched == 6
    await answer(sm, older.run_id, lambda j: decision(False))
    (applied,) = await apply(older.run_id)
    assert (applied.switched, applied.kept) == (0, 6)
    async with sm() as session:  # the later run took over the image judgments: both done
        statuses = (await session.scalars(select(JudgeRun.status).where(
            JudgeRun.id.in_([older.run_id, newer.run_id])))).all()
        assert (await run_progress(session, older.run_id)).total == 2
    assert statuses == ["done", "done"]
    # (the image question did not change: its judgments, unparsable one included, are reused)
    assert await battle_categories(sm, ids) == {
        b: ["counting"] if b == garbage_image else ["busy", "counting"] for b in ids}
    # …and the leaderboard has the slice once enough battles carry the category.
    await assert_slice_threshold(sm, "busy")


def _sha(seeded: list[Seeded], k: int) -> str:
    import hashlib

    assert seeded[k].scene is not None
    return hashlib.sha256(render_png(seeded[k].scene)).hexdigest()


# ---------------------------------------------------------------- the commands

CLI_JUDGE = "cli-judge"


@pytest.fixture
def cli_env(pg_url: str, tiny_models: dict[str, Path], tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A database of its own with three battles and a tiny judge that the registry makes
    the categorizer (options.categories), and the environment of an embedded arena."""
    from app.config import get_settings
    from app.db.migrate import upgrade

    name = f"arena_catcli_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = f"{pg_url.rsplit('/', 1)[0]}/{name}"
    upgrade(url)
    set_file = tmp_path / "small.yaml"
    set_file.write_text(yaml.safe_dump({"name": "small", "categories": [
        {"name": "counting", "sees": "prompt", "question": "Does it ask how many?"},
        {"name": "refusal", "sees": "responses", "question": "Does a response refuse?"},
    ]}))

    async def seed() -> list[uuid.UUID]:
        engine = make_engine(url)
        maker = make_sessionmaker(engine)
        try:
            async with maker() as session:
                session.add_all([ModelEntry(name=n, backend="openai") for n in ANSWER_MODELS])
                session.add(ModelEntry(
                    name=CLI_JUDGE, backend="transformers", path=str(tiny_models["tiny-alpha"]),
                    role="judge", ranked=False, concurrency=4,
                    options={"num_threads": 1, "judge_form": "short",
                             "categories": {"set": str(set_file), "batch": 10}}))
                await session.commit()
            seeded = await seed_battles(maker, LocalBlobStore(tmp_path / "data" / "blobs"), 3,
                                        seed=31, prompts=[COUNTING])
            return [b.battle_id for b in seeded]
        finally:
            await engine.dispose()

    ids = asyncio.run(seed())
    monkeypatch.setenv("ARENA_DATABASE_URL", url)
    monkeypatch.setenv("ARENA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ARENA_MODELS_FILE", str(tmp_path / "models.yaml"))
    monkeypatch.delenv("ARENA_REDIS_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    try:
        yield {"url": url, "ids": ids, "set_file": set_file, "tmp": tmp_path}
    finally:
        get_settings.cache_clear()
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _db(url: str, fn: Any) -> Any:
    async def go() -> Any:
        engine = make_engine(url)
        try:
            async with make_sessionmaker(engine)() as session:
                return await fn(session)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_the_categories_and_judge_commands(cli_env: dict[str, Any]) -> None:
    from typer.testing import CliRunner

    from arena_cli.main import cli

    runner = CliRunner()

    def arena(*args: str, code: int = 0) -> str:
        result = runner.invoke(cli, list(args))
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.output

    out = arena("categories", "check", str(cli_env["set_file"]))
    assert "small: 2 categories, template category@1" in out and "counting [prompt]" in out
    bad = cli_env["tmp"] / "bad.yaml"
    bad.write_text('categories:\n  - {name: x, sees: smell, question: "Why?"}\n')
    assert "sees must be one of" in arena("categories", "check", str(bad), code=1)
    out = arena("categories", "sets")
    assert "visionarena" in out and f"periodic pass: judge {CLI_JUDGE}, set " in out

    # The embedded default has no Redis: the judge runs in this process, with a bar.
    out = arena("categories", "run")
    assert "pass: 3 battles, 4 judgments" in out  # one shared prompt + three answer pairs
    assert "labels: unparsable 6; 3 battles switched" in out
    assert "no battle left to label" in arena("categories", "run")
    out = arena("categories", "status")
    assert "3 battles labelled (3 showing these labels), 0 waiting" in out
    assert "unparsable 6" in out
    assert "unknown model 'nope'" in arena("categories", "run", "--judge", "nope", code=1)

    run_id = _db(cli_env["url"], lambda s: s.scalar(select(JudgeRun.id)))
    assert "category@1" in arena("judge", "templates")
    out = arena("judge", "runs")
    assert str(run_id)[:8] in out and "4/4" in out
    out = arena("judge", "show", str(run_id)[:8])
    assert f"run {run_id} · categories · done" in out
    assert "4 answered, 0 failed, 4 unparsable" in out and "labels: unparsable 6" in out
    assert "failures (4):" in out and "decision:" in out
    out = arena("judge", "resume", str(run_id), "--no-local-worker", "--no-follow")
    assert "0 judgment(s) enqueued" in out  # nothing waits: nothing is redone
    assert "no judge run" in arena("judge", "show", "ffffffff", code=1)
    labels = _db(cli_env["url"], lambda s: s.scalar(select(func.count()).select_from(
        CategoryLabel)))
    assert labels == 6
