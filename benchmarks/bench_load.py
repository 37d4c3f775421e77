"""A load run: N simulated visitors for M minutes against the whole arena, with latencies.

Starts the real thing on 127.0.0.1 (by default the deployment path: `arena serve` under
uvicorn, one worker process per model, a fresh PostgreSQL database on the machine's server,
the machine's Redis under a key prefix of its own; `--stack embedded` for SQLite and the
in-process queue), with two tiny local LLaVA models on the transformers CPU engine. Then
`benchmarks/load_driver.py` runs the visitors (battle, stream, sometimes a reload with
Last-Event-ID, sometimes a follow-up, vote), checks the database afterwards, and prints
the latency table (p50/p95/p99 of battle creation, TTFT, stream completion and vote), the
responses by endpoint, and every error. Exits 1 if there was any error other than a
deliberate 429.

    .venv/bin/python benchmarks/bench_load.py [--visitors 32] [--minutes 5] [...]

The web tier's cost per battle (issue 13): `--engine token` (three token-source models,
benchmarks/token_source.py, so that the engines cost nothing), e.g.
`--engine token --visitors 20 --minutes 1 --think 0 0 --follow-up 0 --reload 0`; the
summary line gives voted battles/s through the one web process and its CPU per battle.

Loopback only, bounded (the run's length, per-request and per-stream timeouts, a hard
deadline), and it removes its database and Redis keys afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.load_driver import LoadConfig, format_report, run_load, verify_database  # noqa: E402
from tests.arena.stack import ArenaStack, embedded_stack, services_stack  # noqa: E402
from tests.conftest import PG_ADMIN_URL, REDIS_URL  # noqa: E402

MODELS = ("load-alpha", "load-beta")
SOURCE_MODELS = ("source-alpha", "source-beta", "source-gamma")  # --engine token


def machine() -> str:
    cpu = ""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return (f"{platform.node()}, nproc {os.cpu_count()}, {cpu or platform.processor()}, "
            f"Python {platform.python_version()}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its finished children (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def process_cpu(stack: ArenaStack) -> dict[str, float]:
    cpu = {name: cpu_seconds(proc.pid) for name, proc in stack.procs.items()}
    own = os.times()
    cpu["load driver (this process)"] = own.user + own.system
    return cpu


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


async def _pg(sql: str, admin_url: str = PG_ADMIN_URL) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def write_registry(path: Path, models: dict[str, Path], tokens: int, concurrency: int) -> Path:
    path.write_text(yaml.safe_dump({"models": [
        {"name": name, "backend": "transformers", "path": str(model_dir),
         "max_new_tokens": tokens, "concurrency": concurrency,
         "sampling": {"temperature": 1.0, "top_p": 1.0}, "options": {"num_threads": 1}}
        for name, model_dir in models.items()
    ]}))
    return path


def token_registry(path: Path, tokens: int, concurrency: int) -> Path:
    """Rows for the token-source models (benchmarks/token_source.py runs their engine;
    the backend named here is never used: its endpoint is a closed port)."""
    from tests.conftest import free_port

    path.write_text(yaml.safe_dump({"models": [
        {"name": name, "backend": "openai", "max_new_tokens": tokens,
         "concurrency": concurrency,
         "options": {"base_url": f"http://127.0.0.1:{free_port()}/v1"}}
        for name in SOURCE_MODELS]}))
    return path


def arena_env(args: argparse.Namespace) -> dict[str, str]:
    """The arena's settings for the run: the defaults, except the limits chosen here.

    Every visitor comes from 127.0.0.1, so they all share one IP hash: its limit (the
    per-visitor one times ARENA_RATE_IP_FACTOR) is raised to the number of visitors, as if
    each came from a network of its own."""
    return {
        "ARENA_BATTLES_PER_VISITOR": args.battles_limit,
        "ARENA_VOTES_PER_VISITOR": args.votes_limit,
        "ARENA_RATE_IP_FACTOR": str(max(10, args.visitors)),
        "ARENA_MAX_GENERATIONS_IN_FLIGHT": str(args.in_flight),
        "ARENA_MODERATION_ENABLED": "true" if args.moderation else "false",
        **dict(item.split("=", 1) for item in args.env),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=32)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--follow-up", type=float, default=0.25,
                        help="probability of a follow-up question per battle")
    parser.add_argument("--reload", type=float, default=0.25,
                        help="probability of a reload mid-stream (Last-Event-ID) per turn")
    parser.add_argument("--think", type=float, nargs=2, default=(0.5, 2.0),
                        metavar=("MIN", "MAX"), help="a visitor's pause before each action, s")
    parser.add_argument("--tokens", type=int, default=48, help="max_new_tokens per answer")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="answers one worker generates at once")
    parser.add_argument("--battles-limit", default="20/minute",
                        help="ARENA_BATTLES_PER_VISITOR")
    parser.add_argument("--votes-limit", default="300/day", help="ARENA_VOTES_PER_VISITOR")
    parser.add_argument("--in-flight", type=int, default=4,
                        help="ARENA_MAX_GENERATIONS_IN_FLIGHT (per visitor)")
    parser.add_argument("--moderation", action="store_true",
                        help="run the moderation gate (off by default: it loads its models "
                             "in the web and worker processes)")
    parser.add_argument("--stack", choices=("services", "embedded"), default="services")
    parser.add_argument("--engine", choices=("transformers", "token"), default="transformers",
                        help="token: three token-source models (the web tier's own cost; "
                             "services stack only)")
    parser.add_argument("--private-pg", action="store_true",
                        help="run a PostgreSQL server of the benchmark's own (the machine's "
                             "may run out of connection slots under other jobs)")
    parser.add_argument("--rate", type=float, default=50.0,
                        help="--engine token: tokens/s per answer")
    parser.add_argument("--stream-timeout", type=float, default=180.0)
    parser.add_argument("--env", action="append", default=[], metavar="ARENA_X=VALUE",
                        help="another setting of the arena processes (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()

    from app.db.migrate import upgrade
    from app.tinyvlm.build import build_tiny_llava

    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    try:
        if args.engine == "token":
            names = list(SOURCE_MODELS)
            registry = token_registry(tmp / "models.yaml", args.tokens, args.concurrency)
        else:
            print(f"building two tiny models in {tmp} ...", flush=True)
            models = {MODELS[0]: build_tiny_llava(tmp / "alpha", seed=1),
                      MODELS[1]: build_tiny_llava(tmp / "beta", seed=2)}
            names = list(MODELS)
            registry = write_registry(tmp / "models.yaml", models, args.tokens,
                                      args.concurrency)
        data = tmp / "data"
        data.mkdir()

        db_name = f"arena_load_{uuid.uuid4().hex[:8]}"
        prefix = f"bench-load:{uuid.uuid4().hex[:6]}:"
        admin_url, stop_pg = PG_ADMIN_URL, None
        if args.private_pg and args.stack == "services":
            from benchmarks.relay_token_mode import private_postgres
            from tests.conftest import free_port

            port = free_port()
            stop_pg = private_postgres(tmp / "pg", port)
            admin_url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        if args.stack == "services":
            asyncio.run(_pg(f'CREATE DATABASE "{db_name}"', admin_url))
            base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
            db_url = f"{base}/{db_name}"
            stack: ArenaStack = services_stack(db_url, REDIS_URL, prefix, registry, data,
                                               **arena_env(args))
        else:
            db_url = f"sqlite+aiosqlite:///{data / 'arena.db'}"
            stack = embedded_stack(registry, data, **arena_env(args))

        load_before = load_average()
        try:
            if args.stack == "services":
                upgrade(db_url)
            print(f"starting the {args.stack} stack ...", flush=True)
            stack.start_web(*(["--embedded-workers"] if args.stack == "embedded" else []))
            if args.stack == "services":
                for i, name in enumerate(names):
                    if args.engine == "token":
                        from benchmarks.relay_token_mode import token_worker

                        token_worker(stack, name, args.rate, args.tokens, args.concurrency,
                                     name=f"worker-{i}")
                    else:
                        stack.start_worker(f"worker-{i}", name)
            stack.wait_models_online(names, timeout=300)
            cfg = LoadConfig(
                base_url=stack.url, visitors=args.visitors, duration_s=args.minutes * 60,
                follow_up_p=args.follow_up, reload_p=args.reload, think_s=tuple(args.think),
                ramp_s=min(10.0, args.minutes * 6), stream_timeout_s=args.stream_timeout,
                grace_s=args.stream_timeout + 30, seed=args.seed,
            )
            print(f"running {args.visitors} visitors for {args.minutes:g} min ...", flush=True)
            cpu_before = process_cpu(stack)
            result = asyncio.run(run_load(cfg))
            cpu_used = {k: v - cpu_before[k] for k, v in process_cpu(stack).items()}
            load_after = load_average()
            asyncio.run(verify_database(result, db_url, settle_s=120))
        finally:
            stack.stop()
            if args.stack == "services":
                asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)', admin_url))
                if stop_pg is not None:
                    stop_pg()
                import redis

                client = redis.Redis.from_url(REDIS_URL)
                keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
                if keys:
                    client.delete(*keys)
                client.close()
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(f"load benchmark, {time.strftime('%Y-%m-%d %H:%M', time.gmtime(result.started))} "
          f"UTC, {machine()}")
    engine = (f"three token-source models at {args.rate:g} tokens/s"
              if args.engine == "token" else "two tiny LLaVA (transformers, CPU, 1 thread each)")
    print(f"stack: {args.stack}, {engine}, "
          f"{args.tokens} tokens per answer, worker concurrency {args.concurrency}; limits "
          f"{args.battles_limit} battles, {args.votes_limit} votes, {args.in_flight} answers "
          f"in flight per visitor; moderation {'on' if args.moderation else 'off'}; think "
          f"{args.think[0]:g}-{args.think[1]:g} s" + (f"; {' '.join(args.env)}" if args.env
                                                      else ""))
    print(f"load average before {load_before}, after {load_after}")
    print("CPU seconds during the run: " + ", ".join(
        f"{name} {sec:.0f}" for name, sec in cpu_used.items())
        + f" (wall {result.wall_s:.0f} s, {os.cpu_count()} cores)")
    votes = len(result.votes)
    web_cpu = cpu_used.get("web", float("nan"))
    print(f"web process: {votes / max(result.wall_s, 1e-9):.1f} voted battles/s, "
          f"{web_cpu / max(1, result.counts['battles']) * 1000:.1f} ms of its CPU per battle "
          f"({result.counts['battles']} battles, {votes} votes, {web_cpu:.1f} CPU s)")
    print()
    print(format_report(result, title="load run"))
    if args.json:
        args.json.write_text(json.dumps({
            "config": {k: v for k, v in vars(args).items() if k != "json"},
            "latencies_ms": result.latencies_ms,
            "statuses": {f"{e} {s}": n for (e, s), n in result.statuses.items()},
            "counts": dict(result.counts), "db": result.db, "cpu_s": cpu_used,
            "errors": [str(e) for e in result.errors], "wall_s": result.wall_s,
        }, default=str, indent=1))
    sys.exit(1 if result.errors else 0)


if __name__ == "__main__":
    main()
