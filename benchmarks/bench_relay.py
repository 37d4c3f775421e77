"""Time to first token and throughput through the whole arena relay, against the engine alone.

Path measured: web (POST) → PostgreSQL → Redis job stream → worker process (vLLM engine on
the CPU, tiny local LLaVA) → Redis token stream → web SSE relay → HTTP client. The same
engine, model, prompt, image and token budget are then run directly on `VLLMEngine`.

To time the relay and not the uploads, every battle (a direct chat: one stream each) is
created while the worker is paused (SIGSTOP), each client opens its SSE stream, and the
clock starts when the worker is resumed; TTFT is then "resume → first token at the client",
and for the engine alone "all requests issued → first token". Both include queueing inside
the engine, so the difference is what the arena adds.

    .venv/bin/python benchmarks/bench_relay.py [--streams 1 16 64] [--tokens 64]

`--source token` measures the relay alone, with the token source as the engine instead of
vLLM (benchmarks/relay_token_mode.py says what is measured):

    .venv/bin/python benchmarks/bench_relay.py --source token \
        --streams 1 16 64 256 1000 --rate 50 --tokens 100 --extra-rates 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.arena.stack import ArenaStack, png_bytes  # noqa: E402
from tests.conftest import free_port  # noqa: E402

VLLM_PY = ROOT / ".venv-vllm" / "bin" / "python"
ENGINE_OPTIONS = {"max_num_seqs": 64, "max_model_len": 512}


def build_model(root: Path) -> Path:
    from app.tinyvlm.build import build_tiny_llava

    return build_tiny_llava(root / "bench-llava", seed=7)


def run_direct(model: Path, image: Path, streams: list[int], tokens: int) -> dict[int, dict]:
    out = subprocess.run(
        [str(VLLM_PY), str(ROOT / "benchmarks" / "relay_direct.py"), "--model", str(model),
         "--image", str(image), "--tokens", str(tokens), "--options",
         json.dumps(ENGINE_OPTIONS), "--streams", *map(str, streams)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return {r["streams"]: r for r in rows}


async def stream_one(client: httpx.AsyncClient, battle_id: str, t0: list[float]
                     ) -> tuple[float, int]:
    first = None
    async with client.stream("GET", f"/api/battles/{battle_id}/stream", timeout=600) as r:
        async for line in r.aiter_lines():
            if line.startswith("data:") and first is None and '"delta"' in line:
                first = time.perf_counter()
            if line.startswith("event: end"):
                break
    view = (await client.get(f"/api/battles/{battle_id}")).json()
    tokens = view["turns"][0]["a"]["completion_tokens"] or 0
    return ((first or time.perf_counter()) - t0[0]) * 1000, tokens


async def relay_round(stack: ArenaStack, worker: subprocess.Popen, n: int,
                      image: bytes) -> dict:
    clients = [httpx.AsyncClient(base_url=stack.url, timeout=120) for _ in range(n)]
    try:
        for c in clients:
            await c.post("/api/consent", json={"accept": True})
        # Pause only the worker's own process: vLLM's engine processes keep running, as
        # they would while a worker is busy.
        os.kill(worker.pid, signal.SIGSTOP)
        ids = []
        for c in clients:
            r = await c.post("/api/battles", files={"image": ("b.png", image, "image/png")},
                             data={"prompt": "What is in the image?", "mode": "direct",
                                   "model_a": "bench-vllm"})
            r.raise_for_status()
            ids.append(r.json()["id"])
        t0 = [0.0]
        tasks = [asyncio.create_task(stream_one(c, i, t0))
                 for c, i in zip(clients, ids, strict=True)]
        await asyncio.sleep(1.0)  # every SSE connection is open and waiting
        t0[0] = time.perf_counter()
        os.kill(worker.pid, signal.SIGCONT)
        results = await asyncio.wait_for(asyncio.gather(*tasks), 600)
        wall = time.perf_counter() - t0[0]
        return {"streams": n, "ttft_ms": [r[0] for r in results],
                "tokens": sum(r[1] for r in results), "wall_s": wall}
    finally:
        for c in clients:
            await c.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--source", choices=("vllm", "token"), default="vllm",
                        help="the engine: vLLM on the CPU, or the token source")
    parser.add_argument("--rate", type=float, default=50.0,
                        help="token source: tokens/s per stream")
    parser.add_argument("--steady", type=float, default=0.0, metavar="S",
                        help="token source: also the latency of the tokens yielded after "
                             "each round's first and before its last S seconds")
    parser.add_argument("--extra-rates", type=float, nargs="*", default=[],
                        help="token source: also these rates, at the streams >= 64")
    args = parser.parse_args()
    if args.source == "token":
        from benchmarks.relay_token_mode import run, table

        rows = run(args.streams, args.rate, args.tokens, args.extra_rates, args.steady)
        print(f"\nrelay benchmark (token source), "
              f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, "
              f"{platform.node()}, {os.cpu_count()} CPUs, {args.tokens} tokens per stream, "
              f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
        print(table(rows))
        return
    if not VLLM_PY.exists():
        sys.exit("needs .venv-vllm: run scripts/setup_vllm_env.sh first")

    import asyncpg  # noqa: F401  (fail early if the main venv is incomplete)

    tmp = Path(tempfile.mkdtemp(prefix="bench-relay-"))
    model = build_model(tmp)
    image_bytes = png_bytes((30, 144, 255), (224, 224))
    (tmp / "image.png").write_bytes(image_bytes)

    print("engine alone ...", flush=True)
    direct = run_direct(model, tmp / "image.png", args.streams, args.tokens)

    db = f"arena_bench_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f'CREATE DATABASE "{db}"'],
                   check=True)
    registry = tmp / "models.yaml"
    registry.write_text(yaml.safe_dump({"models": [{
        "name": "bench-vllm", "backend": "vllm", "path": str(model),
        "max_new_tokens": args.tokens, "concurrency": max(args.streams),
        "sampling": {"temperature": 1.0}, "options": ENGINE_OPTIONS}]}))
    stack = ArenaStack(
        env={
            "ARENA_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1/{db}",
            "ARENA_REDIS_URL": "redis://127.0.0.1:6379/0",
            "ARENA_REDIS_PREFIX": f"bench:{uuid.uuid4().hex[:6]}:",
            "ARENA_DATA_DIR": str(tmp / "data"),
            "ARENA_MODELS_FILE": str(registry),
            "ARENA_RATE_LIMITS_ENABLED": "false",
            "ARENA_MAX_GENERATIONS_IN_FLIGHT": "100000",
            "ARENA_HEARTBEAT_TTL_S": "120",
            "ARENA_LEASE_MS": "600000",
            "ARENA_MODERATE_ANSWERS": "false",
        },
        port=free_port(),
        log_dir=tmp,
    )
    relay: dict[int, dict] = {}
    try:
        print("arena relay ...", flush=True)
        stack.start_web()
        stack.start_worker("worker", "bench-vllm", python=str(VLLM_PY))
        stack.wait_models_online(["bench-vllm"], timeout=600)
        # Warm-up battle so that first-request costs are not counted.
        asyncio.run(relay_round(stack, stack.procs["worker"], 1, image_bytes))
        for n in args.streams:
            relay[n] = asyncio.run(relay_round(stack, stack.procs["worker"], n, image_bytes))
    finally:
        stack.stop()
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc",
                        f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'])

    print(f"\nrelay benchmark, {time.strftime('%Y-%m-%d')}, {platform.node()}, "
          f"{os.cpu_count()} CPUs, {args.tokens} tokens per stream, tiny LLaVA on vLLM (CPU)\n")
    header = ("| streams | TTFT p50 engine (ms) | TTFT p50 relay (ms) | added (ms) "
              "| engine tok/s | relay tok/s | relay / engine |")
    print(header)
    print("|" + "---|" * 7)
    for n in args.streams:
        d, r = direct[n], relay[n]
        dt, rt = statistics.median(d["ttft_ms"]), statistics.median(r["ttft_ms"])
        dtp, rtp = d["tokens"] / d["wall_s"], r["tokens"] / r["wall_s"]
        print(f"| {n} | {dt:.1f} | {rt:.1f} | {rt - dt:+.1f} | {dtp:,.0f} | {rtp:,.0f} "
              f"| {rtp / dtp:.1%} |")


if __name__ == "__main__":
    main()
