"""The relay alone: bench_relay.py's token-source mode (`--source token`).

The arena's deployment path (uvicorn + PostgreSQL + Redis + a worker process) with the
token source as the engine (benchmarks/token_source.py: fixed tokens at a fixed rate per
stream, each stamped with the time it was yielded, almost no CPU). N direct chats are
created while the worker is held (SIGSTOP), N SSE clients connect (raw asyncio sockets in
a separate client process, so their CPU is counted apart), then the worker resumes.

Per token, relay latency = its receipt by the client - the time the source yielded it
(the worker's batching, Redis, the web's reader, SSE and the client's socket: job start-up
is not counted). Reported: added TTFT (token 0's latency), added inter-token delay (each
gap at the client minus the same gap at the source), p50/p99 of the latency, tokens on
time (latency <= 50 ms / <= 100 ms), delivered vs source tokens/s, CPU per relayed token
of the web and worker processes (and the clients apart), the web's Redis connections
(CLIENT LIST by name) and its peak RSS. Errors: streams that ended incomplete or failed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import redis
import yaml

ROOT = Path(__file__).resolve().parents[1]
CLIENT = Path(__file__).resolve()  # this file is also the client process (--client)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q / 100 * len(values)))]


# -- the client process ----------------------------------------------------------------
async def read_stream(port: int, cookie: str, battle_id: str, out: dict[str, Any],
                      connected: Any) -> None:
    """One SSE client on a raw socket: (receipt time, delta text) of every delta."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
    writer.write((f"GET /api/battles/{battle_id}/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  f"Cookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n").encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        out["error"] = head.split(b"\r\n", 1)[0].decode()
        writer.close()
        connected()
        return
    connected()
    deltas: list[tuple[float, str]] = []
    pending = ""
    event = ""
    try:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            if size == 0:
                return
            chunk = await reader.readexactly(size + 2)
            now = time.time()
            pending += chunk[:-2].decode()
            *blocks, pending = pending.split("\n\n")
            for block in blocks:
                for line in block.splitlines():
                    if line.startswith("event: "):
                        event = line[7:]
                        if event not in ("a", "b"):
                            out.setdefault("other_events", []).append(block[:200])
                    elif line.startswith("data: ") and event == "a":
                        data = json.loads(line[6:])
                        if data["type"] == "delta":
                            deltas.append((now, data["text"]))
                        elif data["type"] in ("done", "error"):
                            out["kind"] = data["type"]
                    elif line.startswith("data: ") and event == "end":
                        return
    finally:
        out["deltas"] = deltas
        writer.close()


async def client_main(args: dict[str, Any]) -> None:
    outs: list[dict[str, Any]] = [{} for _ in args["ids"]]
    all_connected = asyncio.Event()
    count = [0]

    def connected() -> None:
        count[0] += 1
        if count[0] == len(outs):
            all_connected.set()

    tasks = [asyncio.create_task(read_stream(args["port"], args["cookie"], i, o, connected))
             for i, o in zip(args["ids"], outs, strict=True)]
    await all_connected.wait()
    print("CONNECTED", flush=True)
    _done, late = await asyncio.wait(tasks, timeout=args["timeout"])
    for task in late:  # a stream that did not end in time counts as an error
        task.cancel()
    own = os.times()
    print(json.dumps({"streams": outs, "cpu_s": own.user + own.system}), flush=True)


# -- the driver ------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def token_worker(stack, model: str, rate: float, tokens: int, concurrency: int,  # type: ignore[no-untyped-def]
                 name: str = "worker"):
    """A worker process for `model` whose engine is the token source."""
    log = open(stack.log_dir / f"{name}.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "token_source.py"), "--model", model,
         "--worker-id", name, "--rate", str(rate), "--tokens", str(tokens),
         "--concurrency", str(concurrency)],
        cwd=ROOT, env={**os.environ, **stack.env}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    stack.procs[name] = proc
    return proc


def one_round(stack, n: int, rate: float, tokens: int, image: bytes,  # type: ignore[no-untyped-def]
              steady_s: float = 0.0) -> dict[str, Any]:
    from benchmarks.token_source import parse_tokens

    web, worker = stack.procs["web"], stack.procs["worker"]
    client = httpx.Client(base_url=stack.url, timeout=120)
    client.post("/api/consent", json={"accept": True}).raise_for_status()
    os.killpg(worker.pid, signal.SIGSTOP)
    try:
        from concurrent.futures import ThreadPoolExecutor

        def create(_: int) -> str:
            r = client.post("/api/battles", files={"image": ("b.png", image, "image/png")},
                            data={"prompt": "What is in the image?", "mode": "direct",
                                  "model_a": "bench-source"})
            r.raise_for_status()
            return r.json()["id"]

        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(create, range(n)))
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        proc = subprocess.Popen(
            [sys.executable, str(CLIENT), "--client"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps({"port": stack.port, "cookie": cookie, "ids": ids,
                                     "timeout": 120 + 3 * tokens / rate}))
        proc.stdin.close()
        assert proc.stdout.readline().strip() == "CONNECTED"
        time.sleep(0.5)
        conns = redis_connections(stack, web.pid)
    finally:
        os.killpg(worker.pid, signal.SIGCONT)
    cpu0 = {"web": cpu_seconds(web.pid), "worker": cpu_seconds(worker.pid)}
    peak = [rss_mb(web.pid)]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak.append(rss_mb(web.pid))
            peak.append(-redis_connections(stack, web.pid))  # negative: kept apart below

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = json.loads(proc.stdout.readline())
    proc.wait()
    done.set()
    sampler.join()
    cpu = {"web": cpu_seconds(web.pid) - cpu0["web"],
           "worker": cpu_seconds(worker.pid) - cpu0["worker"]}
    latencies: list[float] = []
    first: list[float] = []
    gaps: list[float] = []
    received = errors = 0
    reasons: Counter[str] = Counter()
    t_first_src, t_last_src, t_last_recv = float("inf"), 0.0, 0.0
    stamped: list[tuple[float, float]] = []  # (source stamp, latency ms) of every token
    for battle_id, s in zip(ids, result["streams"], strict=True):
        tokens_seen: list[tuple[int, float, float]] = []
        for recv, text in s.get("deltas", []):
            for index, src in parse_tokens(text):
                tokens_seen.append((index, src, recv))
        indices = [i for i, _, _ in tokens_seen]
        if s.get("kind") != "done" or indices != list(range(tokens)) or s.get("error"):
            errors += 1
            reasons[error_reason(s, indices, tokens) + stored_answer(stack, battle_id)] += 1
        received += len(tokens_seen)
        for k, (_, src, recv) in enumerate(tokens_seen):
            latencies.append((recv - src) * 1000)
            stamped.append((src, (recv - src) * 1000))
            if k == 0:
                first.append((recv - src) * 1000)
            else:
                _, psrc, precv = tokens_seen[k - 1]
                gaps.append(((recv - precv) - (src - psrc)) * 1000)
            t_first_src, t_last_src = min(t_first_src, src), max(t_last_src, src)
            t_last_recv = max(t_last_recv, recv)
    # Steady state: the tokens yielded after the round's first `steady_s` seconds and
    # before its last `steady_s` (what "holds N streams" means: not the start-up burst of
    # N jobs starting at once, nor the burst of N answers saved at once).
    steady = [lat for src, lat in stamped
              if t_first_src + steady_s <= src <= t_last_src - steady_s] if steady_s else []
    rss = [p for p in peak if p > 0]
    conn_samples = [-p for p in peak if p < 0] or [conns]
    return {
        "streams": n, "rate": rate, "tokens": received, "errors": errors,
        "ttft_p50": percentile(first, 50), "ttft_p99": percentile(first, 99),
        "lat_p50": percentile(latencies, 50), "lat_p99": percentile(latencies, 99),
        "gap_p50": percentile(gaps, 50), "gap_p99": percentile(gaps, 99),
        "on_time_50": sum(x <= 50 for x in latencies) / max(1, len(latencies)),
        "on_time_100": sum(x <= 100 for x in latencies) / max(1, len(latencies)),
        "source_tps": received / max(1e-9, t_last_src - t_first_src),
        "delivered_tps": received / max(1e-9, t_last_recv - t_first_src),
        "web_us_per_token": cpu["web"] / max(1, received) * 1e6,
        "worker_us_per_token": cpu["worker"] / max(1, received) * 1e6,
        "client_cpu_s": result["cpu_s"], "web_cpu_s": cpu["web"], "worker_cpu_s": cpu["worker"],
        "redis_conns": max(conn_samples), "web_rss_mb": max(rss),
        "error_reasons": dict(reasons),
        "steady_s": steady_s, "steady_tokens": len(steady),
        "steady_p50": percentile(steady, 50) if steady else None,
        "steady_p99": percentile(steady, 99) if steady else None,
        "steady_on_time_100": (sum(x <= 100 for x in steady) / len(steady)) if steady else None,
    }


def stored_answer(stack, battle_id: str) -> str:  # type: ignore[no-untyped-def]
    """What the database says of a failed stream's answer (status, attempts, worker)."""
    url = stack.env["ARENA_DATABASE_URL"].replace("postgresql+asyncpg", "postgresql")
    query = ("select g.status || ' attempts=' || g.attempts || ' worker=' || "
             "coalesce(g.worker_id, '-') || ' ' || coalesce(g.error, '') from generations g "
             f"join turns t on t.id = g.turn_id where t.battle_id = '{battle_id}'")
    out = subprocess.run(["psql", url, "-tAc", query], capture_output=True, text=True)
    from app.queue.redis_queue import GROUP

    r = redis.Redis.from_url(stack.env["ARENA_REDIS_URL"], decode_responses=True)
    key = stack.env["ARENA_REDIS_PREFIX"] + "jobs:bench-source"
    try:
        stale = [(p["message_id"], p["consumer"], p["time_since_delivered"],
                  p["times_delivered"])
                 for p in r.xpending_range(key, GROUP, "-", "+", 1000)
                 if p["time_since_delivered"] > 5000]
    finally:
        r.close()
    return f"; stored: {out.stdout.strip() or out.stderr.strip()}; stale deliveries: {stale}"


def error_reason(stream: dict[str, Any], indices: list[int], tokens: int) -> str:
    """Why a stream counts as an error (printed with the table, so that one can tell a
    lost token from a stream that was still running when the client gave up)."""
    if stream.get("error"):
        return f"HTTP {stream['error']}"
    if len(set(indices)) != len(indices):
        return "a token repeated"
    if indices != sorted(indices):
        return "tokens out of order"
    if stream.get("kind") is None:
        return (f"no done event ({len(indices)} of {tokens} tokens; other events: "
                f"{stream.get('other_events')})")
    return f"{stream['kind']} with {len(indices)} of {tokens} tokens"


def redis_connections(stack, pid: int) -> int:  # type: ignore[no-untyped-def]
    client = redis.Redis.from_url(stack.env["ARENA_REDIS_URL"])
    try:
        return sum(1 for c in client.client_list() if c.get("name") == f"arena-web-{pid}")
    finally:
        client.close()


def run(streams: list[int], rate: float, tokens: int, extra_rates: list[float],
        steady_s: float = 0.0) -> list[dict]:
    import tempfile
    import uuid

    from tests.arena.stack import ArenaStack, png_bytes
    from tests.conftest import free_port

    tmp = Path(tempfile.mkdtemp(prefix="bench-relay-token-"))
    pg_port = free_port()
    postgres = private_postgres(tmp / "pg", pg_port)
    db = "arena_bench"
    subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(pg_port), "-U", "postgres", "-qc",
                    f'CREATE DATABASE "{db}"'], check=True)
    registry = tmp / "models.yaml"
    top = max(streams)
    registry.write_text(yaml.safe_dump({"models": [{
        "name": "bench-source", "backend": "openai", "max_new_tokens": tokens,
        "concurrency": top, "options": {"base_url": f"http://127.0.0.1:{free_port()}/v1"}}]}))
    stack = ArenaStack(env={
        "ARENA_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{pg_port}/{db}",
        "ARENA_REDIS_URL": "redis://127.0.0.1:6379/0",
        "ARENA_REDIS_PREFIX": f"bench:{uuid.uuid4().hex[:6]}:",
        "ARENA_DATA_DIR": str(tmp / "data"), "ARENA_MODELS_FILE": str(registry),
        "ARENA_RATE_LIMITS_ENABLED": "false", "ARENA_MODERATION_ENABLED": "false",
        "ARENA_MAX_GENERATIONS_IN_FLIGHT": "100000", "ARENA_HEARTBEAT_TTL_S": "600",
        "ARENA_LEASE_MS": "600000", "ARENA_MAX_QUEUE_DEPTH_PER_WORKER": "100000",
    }, port=free_port(), log_dir=tmp)
    image = png_bytes((30, 144, 255), (224, 224))
    rows = []
    try:
        stack.start_web()
        rates = [rate, *extra_rates]
        for r in rates:
            if "worker" in stack.procs:
                stack.kill("worker", signal.SIGTERM)
            token_worker(stack, "bench-source", r, tokens, top)
            stack.wait_models_online(["bench-source"], timeout=120)
            one_round(stack, 1, r, tokens, image)  # warm-up
            for n in (streams if r == rate else [s for s in streams if s >= 64]):
                print(f"  {n} streams at {r:g} tokens/s ...", flush=True)
                rows.append(one_round(stack, n, r, tokens, image, steady_s))
    finally:
        stack.stop()
        postgres()
        keys = redis.Redis.from_url(stack.env["ARENA_REDIS_URL"])
        for key in keys.scan_iter(match=stack.env["ARENA_REDIS_PREFIX"] + "*", count=1000):
            keys.delete(key)
        keys.close()
    return rows


def private_postgres(data: Path, port: int):  # type: ignore[no-untyped-def]
    """A PostgreSQL server of the benchmark's own (the machine's is shared: its
    connection slots ran out under other jobs and stalled the worker). Returns `stop`."""
    import shutil

    bin_dir = Path("/usr/lib/postgresql/15/bin")
    data.parent.chmod(0o755)  # mkdtemp's folder: the postgres user must reach into it
    data.mkdir(parents=True)
    shutil.chown(data, "postgres")
    as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_pg, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U",
                    "postgres"], check=True, capture_output=True)
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=400"
    subprocess.run([*as_pg, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-w",
                    "-l", str(data / "log"), "start"], check=True, capture_output=True)

    def stop() -> None:
        subprocess.run([*as_pg, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w",
                        "stop"], capture_output=True)

    return stop


def table(rows: list[dict]) -> str:
    head = ("| streams | tok/s per stream | added TTFT p50 / p99 (ms) | relay latency p50 / p99 "
            "(ms) | added inter-token p50 / p99 (ms) | on time ≤50 / ≤100 ms | delivered / "
            "source tok/s | web CPU µs/token | worker CPU µs/token | clients CPU s | web Redis "
            "conns | web RSS MB | errors |")
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        lines.append(
            f"| {r['streams']} | {r['rate']:g} | {r['ttft_p50']:.1f} / {r['ttft_p99']:.1f} | "
            f"{r['lat_p50']:.1f} / {r['lat_p99']:.1f} | {r['gap_p50']:+.1f} / "
            f"{r['gap_p99']:+.1f} | {r['on_time_50']:.1%} / {r['on_time_100']:.1%} | "
            f"{r['delivered_tps']:,.0f} / {r['source_tps']:,.0f} | "
            f"{r['web_us_per_token']:.0f} | {r['worker_us_per_token']:.0f} | "
            f"{r['client_cpu_s']:.1f} | {r['redis_conns']} | {r['web_rss_mb']:.0f} | "
            f"{r['errors']} |")
    steady = [r for r in rows if r.get("steady_p50") is not None]
    if steady:
        lines += ["", f"Steady state (tokens yielded after the first and before the last "
                  f"{steady[0]['steady_s']:g} s of each round):", "",
                  "| streams | tok/s per stream | tokens | relay latency p50 / p99 (ms) | "
                  "on time ≤100 ms |", "|---|---|---|---|---|"]
        lines += [f"| {r['streams']} | {r['rate']:g} | {r['steady_tokens']:,} | "
                  f"{r['steady_p50']:.1f} / {r['steady_p99']:.1f} | "
                  f"{r['steady_on_time_100']:.1%} |" for r in steady]
    why = [f"- {r['streams']} streams at {r['rate']:g} tokens/s: " + ", ".join(
        f"{n} × {reason}" for reason, n in r["error_reasons"].items())
        for r in rows if r.get("error_reasons")]
    return "\n".join(lines + (["", "Errors:", *why] if why else []))


if __name__ == "__main__" and "--client" in sys.argv:
    try:
        import uvloop

        uvloop.run(client_main(json.loads(sys.stdin.read())))
    except ImportError:
        asyncio.run(client_main(json.loads(sys.stdin.read())))
