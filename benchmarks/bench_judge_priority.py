"""Battle latency while a judge run is going on, and judge throughput, on the deployment path.

Path: uvicorn (`arena serve`) + PostgreSQL + Redis Streams + one worker process per model
(`arena worker`, the transformers engine on the CPU, the demo's shapes models), in a fresh
database and Redis prefix of their own, all on 127.0.0.1. The script starts it, measures,
stops it and drops what it made.

(a) Battle latency as a visitor sees it: N sequential anonymous battles (a shapes-world
    image and question each), TTFT = POST /api/battles sent -> first token delta of either
    side on the SSE stream; "both sides" = until both sides have shown a token; total =
    until the stream's `end` event (both answers final). Three scenarios:
      no judge run                       the baseline;
      judge run, batch share S           a run of J judgments (category@1, short form) on
                                         the same models, submitted with
                                         app.judges.runs.submit_run to the same database and
                                         Redis; battles start once judgments are running;
      judge run, batch share 1.0         the same with ARENA_BATCH_SHARE=1.0 (batch work may
                                         take every slot: no reserved live slots).
    Only battles that ended while the run was still going count in the judge scenarios.
    The server-side split comes from the database: queue wait = generation created ->
    its attempt started (the worker claimed it), engine TTFT = attempt started -> first
    token out of the engine (`generations.ttft_ms`, includes waiting inside the engine).
(b) Judge throughput: T judgments on one model, no battles, submit -> run complete, at
    batch share S and at 1.0, against the same prompts through the engine object in this
    process (same engine options, as many concurrent `generate` calls as the worker's batch
    slots at S), once before the stack starts and once after it stopped (the machine is
    shared: the two show the noise). Also CPU time per judgment of the worker process (or
    of this process, for the engine alone), which the other jobs on the machine disturb
    much less than wall time, and the share of the run's span in which at least one
    judgment was running on the worker.

    .venv/bin/python benchmarks/bench_judge_priority.py [--battles 25] [--judgments 500]
        [--throughput-judgments 150] [--models A B] [--judge same|MODEL] [--share 0.5]

--models: the two models every battle draws (default: the first two answer models of
models.yaml; a judge-role model named here is registered as an answer model for the bench,
so that battles and judgments share its engine). --judge same: judgments go to those two
models; a model that is not one of them gets a worker of its own (then battles and judge
work share only the CPU). Needs PostgreSQL (postgres@127.0.0.1) and Redis (127.0.0.1:6379)
like the tests; about 4-5 minutes on 2 busy cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.arena.registry import load_registry  # noqa: E402
from app.demo.questions import make_question  # noqa: E402
from app.demo.shapes import random_scene, render_png  # noqa: E402
from app.judges.inputs import ImageInput  # noqa: E402
from app.judges.templates import Template, get_template, judgment_inputs_hash, render  # noqa: E402
from tests.arena.stack import ArenaStack  # noqa: E402
from tests.conftest import free_port  # noqa: E402

PG = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc"]
REDIS_URL = "redis://127.0.0.1:6379/0"
# Yes/no questions about the shapes world (the demo's kind of category), with what each sees.
CRITERIA = (
    ("prompt", "Does the prompt ask how many shapes there are?"),
    ("image", "Is there a star in the image?"),
    ("image", "Is there more than one shape in the image?"),
    ("image+prompt", "Is the answer to the prompt yes?"),
)
BATTLE_SEEDS = 50_000_000  # scene seeds: battles, then each judge run, never overlapping
JUDGE_SEEDS = 60_000_000
T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f} s] {message}", flush=True)


# ----------------------------------------------------------------------------- inputs

def judge_items(n: int, offset: int, template: Template) -> list[dict[str, Any]]:
    """n distinct category@1 inputs (each with its own scene, so no two share an inputs
    hash: an existing judgment would be adopted, not redone)."""
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    seed = JUDGE_SEEDS + offset
    while len(items) < n:
        scene = random_scene(seed)
        rng = random.Random(seed)
        seed += 1
        sees, criterion = CRITERIA[len(items) % len(CRITERIA)]
        png = render_png(scene)
        inputs: dict[str, Any] = {"criterion": criterion,
                                  "prompt": make_question(scene, rng).text,
                                  "image": ImageInput.from_bytes(png, "image/png")}
        if sees == "prompt":
            inputs["prompt"] += f" (scene {seed})"  # keep prompt-only items distinct
            del inputs["image"]
        elif sees == "image":
            del inputs["prompt"]
        key = judgment_inputs_hash(template, inputs)
        if key not in seen:
            seen.add(key)
            items.append({"inputs": inputs, "png": png})
    return items


def battle_inputs(n: int, offset: int) -> list[tuple[bytes, str]]:
    out = []
    for i in range(n):
        scene = random_scene(BATTLE_SEEDS + offset + i)
        out.append((render_png(scene), make_question(scene, random.Random(i)).text))
    return out


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(xs: list[float], q: float) -> float:
    """Nearest-rank percentile (p95 of 25 samples is the 24th smallest)."""
    if not xs:
        return math.nan
    s = sorted(xs)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


# ----------------------------------------------------------------------------- engine alone

async def engine_alone(entry: Any, items: list[dict[str, Any]], template: Template,
                       concurrency: int) -> dict[str, float]:
    """The judgments' prompts straight through the engine object: render, generate. The
    request is built as workers.judge_jobs.run_judgment builds it."""
    from workers.engines.base import ChatMessage, EngineConfig, Finished, GenerationRequest
    from workers.engines.factory import make_engine

    engine = make_engine(EngineConfig(name=entry.name, backend=entry.backend, path=entry.path,
                                      options=entry.options))
    await engine.start()
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int, item: dict[str, Any]) -> int:
        prompt = render(template, item["inputs"], form="short")
        s = prompt.sampling
        request = GenerationRequest(
            messages=[ChatMessage(m.role, m.content) for m in prompt.messages],
            image=item["png"] if prompt.images else None, max_new_tokens=s.max_tokens,
            temperature=s.temperature, top_p=s.top_p, request_id=f"alone-{i}")
        async with gate:
            tokens = 0
            async for event in engine.generate(request):
                if isinstance(event, Finished):
                    tokens = event.completion_tokens
            return tokens

    try:
        await one(-1, items[0])  # warm-up, as the workers have served battles before
        t0, c0 = time.perf_counter(), cpu_s(os.getpid())
        tokens = await asyncio.gather(*(one(i, it) for i, it in enumerate(items)))
        wall, cpu = time.perf_counter() - t0, cpu_s(os.getpid()) - c0
    finally:
        await engine.close()
    return {"total": len(items), "wall_s": wall, "per_s": len(items) / wall,
            "cpu_ms": cpu * 1000 / len(items), "tokens": sum(tokens)}


# ----------------------------------------------------------------------------- the arena

@dataclass
class Battle:
    id: str
    post_ms: float  # POST /api/battles answered (upload, moderation, rows, enqueue)
    ttft_ms: float  # first delta of either side
    both_ms: float  # both sides have shown a delta
    total_ms: float  # the `end` event
    during_run: bool = True


@dataclass
class Scenario:
    name: str
    share: float
    battles: list[Battle] = field(default_factory=list)
    queue_wait_ms: list[float] = field(default_factory=list)
    engine_ttft_ms: list[float] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)

    def counted(self) -> list[Battle]:
        return [b for b in self.battles if b.during_run]


async def one_battle(client: httpx.AsyncClient, png: bytes, prompt: str) -> Battle:
    t0 = time.perf_counter()
    r = await client.post("/api/battles", files={"image": ("scene.png", png, "image/png")},
                          data={"prompt": prompt})
    r.raise_for_status()
    posted = time.perf_counter()
    battle_id = r.json()["id"]
    first: dict[str, float] = {}
    event = ""
    async with client.stream("GET", f"/api/battles/{battle_id}/stream", timeout=300) as s:
        async for line in s.aiter_lines():
            if line.startswith("event:"):
                event = line.partition(":")[2].strip()
                if event == "end":
                    break
            elif (line.startswith("data:") and event in ("a", "b") and event not in first
                  and json.loads(line.partition(":")[2]).get("type") in ("delta", "done")):
                first[event] = time.perf_counter()
    end = time.perf_counter()
    ms = lambda t: (t - t0) * 1000  # noqa: E731
    return Battle(battle_id, ms(posted), ms(min(first.values(), default=end)),
                  ms(max(first.values(), default=end)) if len(first) == 2 else ms(end),
                  ms(end))


class Arena:
    """The bench's view of the running stack: HTTP for battles, the database and Redis
    (as the CLI has them) for judge runs."""

    def __init__(self, stack: ArenaStack, db_url: str, prefix: str) -> None:
        from app.db.session import make_engine, make_sessionmaker
        from app.queue import make_queue

        self.stack = stack
        self.db = make_engine(db_url)
        self.sm = make_sessionmaker(self.db)
        self.queue = make_queue(REDIS_URL, prefix=prefix)
        self.client = httpx.AsyncClient(base_url=stack.url, timeout=120)

    async def close(self) -> None:
        await self.client.aclose()
        await self.queue.close()
        await self.db.dispose()

    async def battles(self, inputs: list[tuple[bytes, str]], scenario: Scenario,
                      run_id: uuid.UUID | None = None) -> None:
        from app.judges.runs import run_progress

        for png, prompt in inputs:
            b = await one_battle(self.client, png, prompt)
            if run_id is not None:
                async with self.sm() as session:
                    b.during_run = not (await run_progress(session, run_id)).complete
            scenario.battles.append(b)
        await self._server_split(scenario)

    async def _server_split(self, scenario: Scenario) -> None:
        from sqlalchemy import func, select

        from app.db.models import Generation, GenerationAttempt, Turn

        ids = [uuid.UUID(b.id) for b in scenario.counted()]
        if not ids:
            return
        async with self.sm() as session:
            rows = (await session.execute(
                select(Generation.created_at, func.min(GenerationAttempt.started_at),
                       Generation.ttft_ms)
                .join(Turn, Turn.id == Generation.turn_id)
                .join(GenerationAttempt, GenerationAttempt.generation_id == Generation.id)
                .where(Turn.battle_id.in_(ids))
                .group_by(Generation.id, Generation.created_at, Generation.ttft_ms)
            )).all()
        for created, started, ttft in rows:
            scenario.queue_wait_ms.append((started - created).total_seconds() * 1000)
            if ttft is not None:
                scenario.engine_ttft_ms.append(ttft)

    async def submit(self, items: list[dict[str, Any]], judges: list[str], template: Template,
                     label: str, repetition: int = 0) -> uuid.UUID:
        from app.judges.runs import JudgmentSpec, submit_run
        from app.storage.blobs import LocalBlobStore

        blobs = LocalBlobStore(Path(self.stack.env["ARENA_DATA_DIR"]) / "blobs")
        for it in items:
            if "image" in it["inputs"]:
                await blobs.put(it["png"])
        specs = [JudgmentSpec(template, judges[i % len(judges)], it["inputs"],
                              repetition=repetition, form="short")
                 for i, it in enumerate(items)]
        async with self.sm() as session:
            run = await submit_run(session, self.queue, kind="bench", label=label, specs=specs,
                                   created_by="bench_judge_priority")
        return run.id

    async def busy_share(self, run_id: uuid.UUID) -> float:
        """Share of the run's span (first start -> last finish) in which at least one of
        its judgments was running on the worker (attempt started, result saved)."""
        from app.judges.runs import run_judgments

        async with self.sm() as session:
            spans = sorted((j.started_at, j.finished_at) for j in await run_judgments(
                session, run_id) if j.started_at and j.finished_at)
        busy, end = 0.0, None
        for a, b in spans:
            if end is None or a > end:
                busy += (b - a).total_seconds()
                end = b
            elif b > end:
                busy += (b - end).total_seconds()
                end = b
        span = (max(b for _, b in spans) - spans[0][0]).total_seconds() if spans else 0
        return busy / span if span else math.nan

    async def wait_started(self, run_id: uuid.UUID, within_s: float = 60) -> None:
        from app.judges.runs import run_progress

        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            async with self.sm() as session:
                p = await run_progress(session, run_id)
            if p.running + p.finished > 0:
                return
            await asyncio.sleep(0.1)
        raise RuntimeError("the judge run did not start")

    async def wait_complete(self, run_id: uuid.UUID, within_s: float = 300) -> dict[str, Any]:
        from app.judges.runs import close_if_complete

        deadline = time.monotonic() + within_s
        while True:
            async with self.sm() as session:
                p = await close_if_complete(session, run_id)
            if p.complete:
                return {"total": p.total, "done": p.done, "failed": p.failed,
                        "parse_failures": p.parse_failures, "tokens": p.completion_tokens}
            if time.monotonic() > deadline:
                raise RuntimeError(f"judge run not complete after {within_s:.0f} s: {p}")
            await asyncio.sleep(0.1)


async def restart_workers(stack: ArenaStack, models: list[str], share: float, generation: int,
                          prefix: str) -> None:
    for name in [n for n in stack.procs if n.startswith("w-")]:
        stack.kill(name, 15)  # SIGTERM: a graceful stop, the worker deregisters
    stack.env["ARENA_BATCH_SHARE"] = str(share)
    for model in models:
        stack.start_worker(f"w-{model}-{generation}", model)
    await wait_live(prefix, models)


async def throughput(arena: Arena, items: list[dict[str, Any]], model: str,
                     template: Template, share: float, repetition: int) -> dict[str, Any]:
    """(b): judgments through the workers, no battles: submit -> run complete."""
    log(f"judge throughput, share {share:g}: {len(items)} judgments on {model} ...")
    pid = next(p.pid for n, p in arena.stack.procs.items() if n.startswith(f"w-{model}-"))
    t0, c0 = time.perf_counter(), cpu_s(pid)
    run_id = await arena.submit(items, [model], template, f"throughput {share:g}",
                                repetition=repetition)
    tp = await arena.wait_complete(run_id)
    tp["wall_s"] = time.perf_counter() - t0
    tp["per_s"] = tp["total"] / tp["wall_s"]
    tp["cpu_ms"] = (cpu_s(pid) - c0) * 1000 / tp["total"]  # the worker process only
    tp["busy"] = await arena.busy_share(run_id)
    return tp


async def arena_phases(stack: ArenaStack, db_url: str, prefix: str, args: Any,
                       template: Template, judges: list[str], workers: list[str],
                       tp_items: list[dict[str, Any]]
                       ) -> tuple[list[Scenario], dict[float, dict[str, Any]]]:
    arena = Arena(stack, db_url, prefix)
    scenarios: list[Scenario] = []
    through: dict[float, dict[str, Any]] = {}
    try:
        r = await arena.client.post("/api/consent", json={"accept": True})
        r.raise_for_status()
        await arena.battles(battle_inputs(3, 0), Scenario("warm-up", args.share))
        plan = [("no judge run", args.share, False),
                (f"judge run, share {args.share:g}", args.share, True)]
        if args.share != 1.0:
            plan.append(("judge run, share 1", 1.0, True))
        for k, (name, share, judged) in enumerate(plan):
            if share != float(stack.env["ARENA_BATCH_SHARE"]):
                log(f"restarting the workers with ARENA_BATCH_SHARE={share:g} ...")
                await restart_workers(stack, workers, share, k + 2, prefix)
                await arena.battles(battle_inputs(3, 0), Scenario("warm-up", share))
            if share not in through:
                # Same prompts at every share: a new repetition is a new judgment.
                through[share] = await throughput(arena, tp_items, args.throughput_model,
                                                  template, share, len(through))
            scenario = Scenario(name, share)
            battles = battle_inputs(args.battles, 1000 * (k + 1))
            if not judged:
                log(f"{name}: {args.battles} battles ...")
                await arena.battles(battles, scenario)
            else:
                # Batch work runs about in proportion to its slots: scale the run so that
                # it outlasts the battles at every share.
                n = round(args.judgments * share / args.share)
                log(f"{name}: {args.battles} battles during a run of {n} judgments ...")
                items = judge_items(n, 100_000 * (k + 1), template)
                t0 = time.perf_counter()
                run_id = await arena.submit(items, judges, template, name)
                await arena.wait_started(run_id)
                await arena.battles(battles, scenario, run_id)
                scenario.run = await arena.wait_complete(run_id)
                scenario.run["wall_s"] = time.perf_counter() - t0
                log(f"{name}: run complete after {scenario.run['wall_s']:.1f} s; "
                    f"{len(scenario.counted())} battles ended while it ran")
            scenarios.append(scenario)
    finally:
        await arena.close()
    return scenarios, through


# ----------------------------------------------------------------------------- main

def machine() -> str:
    cpu = "?"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
    except OSError:
        pass
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{platform.node()}, {os.cpu_count()} CPUs ({cpu}), Python "
            f"{platform.python_version()}, load average {load}")


async def wait_live(prefix: str, models: list[str], within_s: float = 180) -> None:
    """Wait until each model has a live worker in the queue (a judge-role model is not in
    /api/models: that lists the models battles may draw)."""
    from app.queue import make_queue

    queue = make_queue(REDIS_URL, prefix=prefix)
    deadline = time.monotonic() + within_s
    for model in models:
        while not await queue.live_workers(model):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no live worker for {model}")
            await asyncio.sleep(0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    registry_file = ROOT / "models.yaml"
    answer_models = [s.name for s in load_registry(registry_file) if s.role == "answer"]
    parser.add_argument("--models", nargs=2, default=answer_models[:2],
                        help="the two answer models every battle draws")
    parser.add_argument("--judge", default="same",
                        help="'same': judgments go to the battle models (one lane each); or "
                             "a model of models.yaml (its own worker if not a battle model)")
    parser.add_argument("--battles", type=int, default=25, help="battles per scenario")
    parser.add_argument("--judgments", type=int, default=500, help="judgments per judge run")
    parser.add_argument("--throughput-judgments", type=int, default=150)
    parser.add_argument("--share", type=float, default=0.5, help="ARENA_BATCH_SHARE")
    args = parser.parse_args()

    specs = {s.name: s for s in load_registry(registry_file)}
    judges = list(args.models) if args.judge == "same" else [args.judge]
    workers = list(dict.fromkeys([*args.models, *judges]))
    args.throughput_model = judges[0]
    template = get_template("category", 1)
    entry = specs[args.throughput_model]
    slots = max(1, int(entry.concurrency * args.share))
    tp_items = judge_items(args.throughput_judgments, 0, template)
    started = time.strftime("%Y-%m-%d %H:%M")
    print(f"machine: {machine()}", flush=True)

    log("engine alone (before) ...")
    alone = [asyncio.run(engine_alone(entry, tp_items, template, slots))]

    tmp = Path(tempfile.mkdtemp(prefix="bench-judge-"))
    registry = tmp / "models.yaml"
    registry.write_text(yaml.safe_dump({"models": [
        {**specs[m].model_dump(), "role": "answer" if m in args.models else specs[m].role}
        for m in workers]}))
    db = f"arena_bench_{uuid.uuid4().hex[:8]}"
    db_url = f"postgresql+asyncpg://postgres@127.0.0.1/{db}"
    prefix = f"bench:{uuid.uuid4().hex[:6]}:"
    subprocess.run([*PG, f'CREATE DATABASE "{db}"'], check=True)
    stack = ArenaStack(
        env={
            "ARENA_DATABASE_URL": db_url,
            "ARENA_REDIS_URL": REDIS_URL,
            "ARENA_REDIS_PREFIX": prefix,
            "ARENA_DATA_DIR": str(tmp / "data"),
            "ARENA_MODELS_FILE": str(registry),
            "ARENA_BATCH_SHARE": str(args.share),
            "ARENA_RATE_LIMITS_ENABLED": "false",
            "ARENA_MAX_GENERATIONS_IN_FLIGHT": "100000",
            "ARENA_MODERATE_ANSWERS": "false",
        },
        port=free_port(),
        log_dir=tmp,
    )
    try:
        log("starting the stack ...")
        stack.start_web()
        for model in workers:
            stack.start_worker(f"w-{model}-1", model)
        # /api/models lists the battle models only (a judge-role model is never drawn)
        asyncio.run(wait_live(prefix, workers))
        scenarios, through = asyncio.run(arena_phases(stack, db_url, prefix, args, template,
                                                      judges, workers, tp_items))
    except BaseException:
        print(f"failed; the processes' logs are in {tmp}", file=sys.stderr)
        raise
    finally:
        stack.stop()
        subprocess.run([*PG, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'])
        subprocess.run(["redis-cli", "-h", "127.0.0.1", "--no-auth-warning", "eval",
                        "for _,k in ipairs(redis.call('keys', ARGV[1])) do "
                        "redis.call('del', k) end", "0", f"{prefix}*"],
                       capture_output=True)
    shutil.rmtree(tmp, ignore_errors=True)  # reached only when the arena phases succeeded
    log("engine alone (after) ...")
    alone.append(asyncio.run(engine_alone(entry, tp_items, template, slots)))

    report(started, args, judges, entry.concurrency, slots, scenarios, through, alone)


def report(started: str, args: Any, judges: list[str], concurrency: int, slots: int,
           scenarios: list[Scenario], through: dict[float, dict[str, Any]],
           alone: list[dict[str, float]]) -> None:
    def f(xs: list[float]) -> str:
        return f"{pct(xs, 50):.0f} / {pct(xs, 95):.0f}"

    print(f"\njudge priority benchmark, {started}, {machine()}")
    print(f"battles: {args.battles} sequential per scenario, models {' + '.join(args.models)} "
          f"(transformers, CPU, 1 thread each, concurrency {concurrency}); judge runs: "
          f"category@1 (short) on {' + '.join(judges)}, {args.judgments} judgments at share "
          f"{args.share:g} (scaled with the share)\n")
    print("| scenario | battles counted | POST p50 / p95 | TTFT p50 / p95 "
          "| both sides p50 / p95 | total p50 / p95 | queue wait p50 / p95 "
          "| engine TTFT p50 / p95 | judgments/s meanwhile |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in scenarios:
        b = s.counted()
        rate = f"{s.run['total'] / s.run['wall_s']:.1f}" if s.run else "-"
        print(f"| {s.name} | {len(b)}/{len(s.battles)} | {f([x.post_ms for x in b])} "
              f"| {f([x.ttft_ms for x in b])} | {f([x.both_ms for x in b])} "
              f"| {f([x.total_ms for x in b])} | {f(s.queue_wait_ms)} "
              f"| {f(s.engine_ttft_ms)} | {rate} |")
    print("\n(ms. Client side: POST answered, first token of either side, both sides "
          "started, stream ended. Per generation, from the database: queue wait = created "
          "-> attempt started; engine TTFT = attempt started -> first token.)\n")
    mean = statistics.mean(a["per_s"] for a in alone)
    print(f"| judge throughput ({args.throughput_model}) | judgments | wall s | judgments/s "
          "| vs engine alone (mean of two) | CPU ms per judgment (that process) "
          "| a judgment running |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows = [(f"engine alone, before the stack ({slots} concurrent calls)", alone[0])]
    rows += [(f"workers, share {share:g} ({max(1, int(concurrency * share))} batch slots), "
              "no battles", r) for share, r in through.items()]
    rows.append((f"engine alone, after the stack ({slots} concurrent calls)", alone[1]))
    for label, r in rows:
        busy = f"{r['busy']:.0%}" if "busy" in r else "-"
        print(f"| {label} | {r['total']} | {r['wall_s']:.1f} | {r['per_s']:.2f} "
              f"| {r['per_s'] / mean:.0%} | {r['cpu_ms']:.1f} | {busy} |")
    outcomes = [f"throughput {share:g}: {r}" for share, r in through.items()]
    outcomes += [f"{s.name}: {s.run}" for s in scenarios if s.run]
    print("\nrun outcomes: " + "; ".join(outcomes))


if __name__ == "__main__":
    main()
