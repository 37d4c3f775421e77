"""Tools of the fault suite: private Redis/PostgreSQL servers, a browser-like SSE reader,
database checks in plain SQL (both dialects), and waits that fail with the process logs.

The checks read the tables with SQL text, not the ORM models, so that they state the
contract (tables `generations`, `turns`, `votes`, `generation_attempts`) and do not move
with the models' Python side.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.arena.stack import ArenaStack, SSEEvent, answers_from, png_bytes
from tests.conftest import free_port, missing_service

# Settings every fault stack shares: a quick sweeper (the defaults are 10 s), a stream
# that pings every second, and no moderation models to load (faults are about the queue
# and the database; moderation has its own tests).
FAULT_ENV = {
    "ARENA_MODERATION_ENABLED": "false",
    "ARENA_SSE_PING_S": "1",
    "ARENA_SWEEP_INTERVAL_S": "1",
    "ARENA_SWEEP_GRACE_S": "2",
    "ARENA_HEARTBEAT_INTERVAL_S": "0.5",
    "ARENA_MAX_GENERATIONS_IN_FLIGHT": "100",
}

FINISHED = ("done", "failed")


# ----------------------------------------------------------------------- waiting, logs


def stack_logs(stack: ArenaStack) -> str:
    """The tail of every process log of the stack, killed processes included."""
    parts = []
    for path in sorted(stack.log_dir.glob("*.log")):
        parts.append(f"----- {path.name}\n{stack.log(path.stem)}")
    return "\n".join(parts)


def wait_until(
    predicate: Callable[[], Any],
    *,
    timeout: float,
    what: str,
    stack: ArenaStack | None = None,
    state: Callable[[], Any] | None = None,
    interval: float = 0.1,
) -> Any:
    """Poll until `predicate()` is truthy (returned); else fail saying what was awaited,
    the last state seen and the stack's logs."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            described = state() if state else value
            raise AssertionError(
                f"timed out after {timeout:.0f}s waiting for {what}; last state: {described!r}"
                + (f"\n{stack_logs(stack)}" if stack else "")
            )
        time.sleep(interval)


# ----------------------------------------------------------------------- registry, stack


def write_registry(path: Path, models: dict[str, tuple[Path, int]]) -> Path:
    """A models.yaml of transformers models: name → (model dir, max_new_tokens)."""
    path.write_text(yaml.safe_dump({"models": [
        {
            "name": name,
            "backend": "transformers",
            "path": str(model_dir),
            "max_new_tokens": max_new_tokens,
            "concurrency": 8,
            "sampling": {"temperature": 1.0, "top_p": 1.0},
            "options": {"num_threads": 1},
        }
        for name, (model_dir, max_new_tokens) in models.items()
    ]}))
    return path


def start_worker_with_env(
    stack: ArenaStack, name: str, model: str, **env: str
) -> subprocess.Popen:
    """`stack.start_worker` with some settings of this one worker changed."""
    saved = stack.env
    stack.env = {**saved, **env}
    try:
        stack.start_worker(name, model)
    finally:
        stack.env = saved
    return stack.procs[name]


def signal_worker(stack: ArenaStack, name: str, sig: int) -> None:
    os.killpg(stack.procs[name].pid, sig)


def wait_exit(stack: ArenaStack, name: str, timeout: float) -> int:
    """Wait for a process of the stack to exit by itself; returns its exit status."""
    proc = stack.procs[name]
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"{name} did not exit within {timeout:.0f}s\n{stack_logs(stack)}"
        ) from None
    stack.procs.pop(name)
    return rc


def worker_heartbeat(redis_url: str, prefix: str, model: str, worker_id: str) -> dict | None:
    """What a worker last reported (in_flight, ...), or None when its heartbeat expired."""
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=3)
    try:
        raw = client.get(f"{prefix}workers:{model}:{worker_id}")
    finally:
        client.close()
    return json.loads(raw) if raw else None


def wait_worker_live(
    stack: ArenaStack, redis_url: str, model: str, worker_id: str, timeout: float = 90
) -> None:
    prefix = stack.env["ARENA_REDIS_PREFIX"]

    def live() -> bool:
        proc = stack.procs.get(worker_id)
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{worker_id} exited:\n{stack.log(worker_id)}")
        return worker_heartbeat(redis_url, prefix, model, worker_id) is not None

    wait_until(live, timeout=timeout, what=f"worker {worker_id} to heartbeat", stack=stack,
               interval=0.3)


# ----------------------------------------------------------------------- HTTP clients


def consented(base_url: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=30)
    r = client.post("/api/consent", json={"accept": True})
    assert r.status_code == 200, r.text
    return client


def post_battle(client: httpx.Client, prompt: str = "What is in the image?",
                **form: str) -> httpx.Response:
    return client.post(
        "/api/battles",
        files={"image": ("pic.png", png_bytes(), "image/png")},
        data={"prompt": prompt, **form},
    )


def new_battle(client: httpx.Client, model_a: str, model_b: str,
               prompt: str = "What is in the image?") -> str:
    r = post_battle(client, prompt, mode="side_by_side", model_a=model_a, model_b=model_b)
    assert r.status_code == 201, (r.status_code, r.text)
    return r.json()["id"]


class StreamWatcher:
    """Reads one turn's SSE stream in a thread the way a browser's EventSource does: when
    the connection drops or answers an error it waits a second and reconnects with
    Last-Event-ID, until the `end` event (or its deadline).

    `events` holds every event of every connection in order; `connections` records each
    connection: the Last-Event-ID it sent, its status, and how it ended."""

    def __init__(self, client: httpx.Client, battle_id: str, *, turn: int | None = None,
                 timeout: float = 180) -> None:
        self.battle_id = battle_id
        self.turn = turn
        self.path = f"/api/battles/{battle_id}/stream" + ("" if turn is None else f"?turn={turn}")
        self.events: list[SSEEvent] = []
        self.times: list[float] = []  # time.monotonic() when each event came
        self.connection_of: list[int] = []  # the index in `connections` of each event
        self.connections: list[dict[str, Any]] = []
        self.last_event_id: str | None = None
        self.ended = threading.Event()
        self._stop = threading.Event()
        self._client = httpx.Client(
            base_url=str(client.base_url), cookies=client.cookies,
            timeout=httpx.Timeout(10, read=30),
        )
        self._deadline = time.monotonic() + timeout
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"sse-{battle_id[:8]}")
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set() and time.monotonic() < self._deadline:
                record: dict[str, Any] = {"last_event_id": self.last_event_id, "status": None,
                                          "error": None, "events": 0}
                self.connections.append(record)
                headers = {"Last-Event-ID": self.last_event_id} if self.last_event_id else {}
                try:
                    with self._client.stream("GET", self.path, headers=headers) as response:
                        record["status"] = response.status_code
                        if response.status_code != 200:
                            record["body"] = response.read()[:500].decode(errors="replace")
                        else:
                            self._read(response, record)
                            if self.ended.is_set():
                                return
                except httpx.HTTPError as exc:
                    record["error"] = repr(exc)
                self._stop.wait(1.0)  # the stream's `retry: 1000`
        finally:
            self._client.close()

    def _read(self, response: httpx.Response, record: dict[str, Any]) -> None:
        current: dict[str, str] = {}
        for line in response.iter_lines():
            if self._stop.is_set():
                break
            if line == "":
                if "event" in current:
                    event = SSEEvent(current["event"], current.get("id"),
                                     json.loads(current.get("data", "{}")))
                    self.times.append(time.monotonic())
                    self.connection_of.append(len(self.connections) - 1)
                    self.events.append(event)
                    record["events"] += 1
                    if event.id:
                        self.last_event_id = event.id
                    if event.event == "end":
                        self.ended.set()
                        break
                current = {}
                continue
            if line.startswith(":"):
                continue
            key, _, value = line.partition(":")
            current[key] = value.lstrip(" ")

    # -- what was seen -------------------------------------------------------------------
    def snapshot(self) -> list[SSEEvent]:
        return list(self.events)

    def side_events(self, side: str) -> list[dict[str, Any]]:
        return [e.data for e in self.snapshot() if e.event == side]

    def has(self, side: str, kind: str, after: str | None = None) -> bool:
        """Whether an event of `kind` came on `side` (after the first `after` event)."""
        seen_after = after is None
        for data in self.side_events(side):
            if seen_after and data.get("type") == kind:
                return True
            if data.get("type") == after:
                seen_after = True
        return False

    def quiet_for(self, side: str) -> float:
        """Seconds since the last event of `side` (infinite before any)."""
        last = [t for t, e in zip(list(self.times), self.snapshot(), strict=False)
                if e.event == side]
        return time.monotonic() - last[-1] if last else float("inf")

    def finished(self, side: str) -> bool:
        return any(d.get("type") in ("done", "error") for d in self.side_events(side))

    def wait(self, predicate: Callable[[StreamWatcher], bool], *, timeout: float, what: str,
             stack: ArenaStack | None = None) -> None:
        wait_until(lambda: predicate(self), timeout=timeout, what=what, stack=stack,
                   state=self.describe)

    def wait_end(self, *, timeout: float = 120, stack: ArenaStack | None = None) -> None:
        if not self.ended.wait(timeout):
            raise AssertionError(
                f"stream of {self.battle_id} did not end in {timeout:.0f}s: "
                f"{self.describe()}" + (f"\n{stack_logs(stack)}" if stack else "")
            )

    def describe(self) -> str:
        """Each side's events in order (runs of deltas counted), then the connections."""
        kinds: dict[str, list[str]] = {}
        for e in self.snapshot():
            kinds.setdefault(e.event, []).append(str(e.data.get("type", e.data)))
        summary = {side: _compress(k) for side, k in kinds.items()}
        return f"events {summary}; connections {self.connections}"

    def timeline(self) -> str:
        """Every event with its connection, id and size: for failure messages."""
        lines = []
        for connection, e in zip(list(self.connection_of), self.snapshot(), strict=False):
            extra = {k: v for k, v in e.data.items() if k not in ("text", "html")}
            size = len(e.data.get("text") or "")
            lines.append(f"  conn {connection} {e.event} {extra} id={e.id} text={size}")
        return "\n".join(lines[-80:])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def answers(self) -> dict[str, str]:
        """Each side's final text as the page shows it (the `done` event's text)."""
        return answers_from(self.snapshot())["final"]  # type: ignore[return-value]

    def assert_consistent(self) -> dict[str, str]:
        """Both sides ended `done`; where deltas came after the last reset they add up to the
        final text (nothing lost, repeated or mixed in from another attempt). Returns the
        final texts."""
        events = self.snapshot()
        texts = answers_from(events)
        for side in "ab":
            final = texts["final"].get(side)  # type: ignore[union-attr]
            assert final, f"side {side} never showed a finished answer: {self.describe()}"
            streamed = texts["streamed"].get(side)  # type: ignore[union-attr]
            if streamed is not None and self._streamed_whole(events, side):
                assert streamed == final, (
                    f"side {side}: the deltas the page showed after the last reset "
                    f"({len(streamed)} chars) are not the final answer ({len(final)} chars)"
                    f"\nstreamed: {streamed[:300]!r}\nfinal:    {final[:300]!r}"
                    f"\n{self.describe()}\n{self.timeline()}"
                )
            elif streamed is not None:
                assert final.startswith(streamed), (
                    f"side {side}: the deltas shown ({len(streamed)} chars) are not the "
                    f"start of the final answer\nstreamed: {streamed[:300]!r}\n"
                    f"final:    {final[:300]!r}"
                )
        return texts["final"]  # type: ignore[return-value]

    def _streamed_whole(self, events: list[SSEEvent], side: str) -> bool:
        """True when the side's answer was live on the connection that finished it (deltas
        of that side came on it before its `done`), so the deltas must be the whole answer.
        A `done` that opens a reconnection is the relay's snapshot of a side that finished
        meanwhile: the deltas before it only have to be its start."""
        connection_of = list(self.connection_of)
        done_at = next((i for i, e in enumerate(events)
                        if e.event == side and e.data.get("type") == "done"), None)
        if done_at is None:
            return False
        return any(e.event == side and e.data.get("type") == "delta"
                   and connection_of[i] == connection_of[done_at]
                   for i, e in enumerate(events[:done_at]))


def _compress(kinds: list[str]) -> list[str]:
    out: list[str] = []
    for kind in kinds:
        if out and out[-1].split(" x")[0] == kind:
            base, _, n = out[-1].partition(" x")
            out[-1] = f"{base} x{int(n or 1) + 1}"
        else:
            out.append(kind)
    return out


# ----------------------------------------------------------------------- database


def sql(url: str, query: str, **params: Any) -> list[dict[str, Any]]:
    """Run one statement on its own short-lived connection; rows as dicts."""

    async def run() -> list[dict[str, Any]]:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(text(query), params)
                return [dict(row._mapping) for row in result] if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(run())


def norm_id(value: Any) -> str:
    return str(uuid.UUID(str(value)))


GENERATIONS_SQL = """
SELECT g.id AS id, t.battle_id AS battle_id, t."index" AS turn, g.side AS side,
       g.status AS status, g.text AS text, g.attempts AS attempts, g.worker_id AS worker_id,
       g.model AS model, g.finished_at AS finished_at
FROM generations g JOIN turns t ON t.id = g.turn_id
"""


def generations(url: str, battle_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    rows = sql(url, GENERATIONS_SQL)
    for row in rows:
        row["id"], row["battle_id"] = norm_id(row["id"]), norm_id(row["battle_id"])
    if battle_ids is not None:
        wanted = {norm_id(b) for b in battle_ids}
        rows = [r for r in rows if r["battle_id"] in wanted]
    return sorted(rows, key=lambda r: (r["battle_id"], r["turn"], r["side"]))


def generation(url: str, battle_id: str, side: str, turn: int = 0) -> dict[str, Any]:
    for row in generations(url, [battle_id]):
        if row["turn"] == turn and row["side"] == side:
            return row
    raise AssertionError(f"no generation for battle {battle_id} turn {turn} side {side}")


def attempts(url: str, generation_id: str | None = None) -> list[dict[str, Any]]:
    rows = sql(url, "SELECT generation_id, attempt, worker_id, started_at, ended_at, outcome,"
                    " error FROM generation_attempts")
    for row in rows:
        row["generation_id"] = norm_id(row["generation_id"])
    if generation_id is not None:
        rows = [r for r in rows if r["generation_id"] == norm_id(generation_id)]
    return sorted(rows, key=lambda r: (r["generation_id"], r["attempt"]))


def holder(url: str, battle_id: str, side: str = "a") -> str | None:
    """The worker running this side now: its attempt record if there is one (the new
    protocol), else the generation's worker_id while it is running."""
    gen = generation(url, battle_id, side)
    running = [a for a in attempts(url, gen["id"]) if a["outcome"] == "running"]
    if running:
        return running[-1]["worker_id"]
    return gen["worker_id"] if gen["status"] == "running" else None


def wait_generations_finished(url: str, battle_ids: Iterable[str] | None, *, timeout: float,
                              stack: ArenaStack | None = None) -> list[dict[str, Any]]:
    """Every generation (of these battles) ends done or failed: never stuck."""
    ids = None if battle_ids is None else list(battle_ids)

    def unfinished() -> list[tuple[str, int, str, str, int]]:
        return [(g["battle_id"][:8], g["turn"], g["side"], g["status"], g["attempts"])
                for g in generations(url, ids) if g["status"] not in FINISHED]

    wait_until(lambda: not unfinished(), timeout=timeout, stack=stack, state=unfinished,
               what="every generation to end done or failed (battle, turn, side, status, "
                    "attempts)", interval=0.3)
    return generations(url, ids)


@dataclass
class Seen:
    """What clients were told: finished answers shown, votes acknowledged (2xx)."""

    answers: dict[tuple[str, int, str], str] = field(default_factory=dict)
    votes: dict[str, str] = field(default_factory=dict)

    def add_stream(self, watcher: StreamWatcher, turn: int = 0) -> dict[str, str]:
        finals = watcher.assert_consistent()
        for side, answer in finals.items():
            self.answers[(norm_id(watcher.battle_id), turn, side)] = answer
        return finals

    def vote(self, client: httpx.Client, battle_id: str, winner: str = "model_a") -> None:
        r = client.post(f"/api/battles/{battle_id}/vote", json={"winner": winner})
        assert r.status_code == 200, (r.status_code, r.text)
        self.votes[norm_id(battle_id)] = winner


def check_nothing_lost(url: str, seen: Seen, battle_ids: Iterable[str] | None = None) -> None:
    """The invariants every fault case ends with, checked in the database.

    1. every generation ended done or failed; 2. every finished answer a client saw is the
    stored one; 3. every acknowledged vote is stored, and no battle has two; 4. no answer
    was generated twice after it finished: at most one attempt ended `done` per generation,
    a `done` generation has exactly that one, and no attempt started after the finish."""
    ids = None if battle_ids is None else [norm_id(b) for b in battle_ids]
    gens = generations(url, ids)
    stuck = [(g["battle_id"][:8], g["turn"], g["side"], g["status"]) for g in gens
             if g["status"] not in FINISHED]
    assert not stuck, f"generations stuck (battle, turn, side, status): {stuck}"

    by_key = {(g["battle_id"], g["turn"], g["side"]): g for g in gens}
    for key, shown in seen.answers.items():
        stored = by_key[key]
        assert stored["status"] == "done" and stored["text"] == shown, (
            f"battle {key[0][:8]} turn {key[1]} side {key[2]}: the stored answer is not the "
            f"one the page showed (status {stored['status']}, attempts {stored['attempts']}, "
            f"worker {stored['worker_id']})\nshown:  {shown[:200]!r}\n"
            f"stored: {stored['text'][:200]!r}"
        )

    votes = sql(url, "SELECT battle_id, winner FROM votes")
    counts: dict[str, list[str]] = {}
    for v in votes:
        counts.setdefault(norm_id(v["battle_id"]), []).append(v["winner"])
    doubled = {b: w for b, w in counts.items() if len(w) > 1}
    assert not doubled, f"battles with more than one vote: {doubled}"
    for battle_id, winner in seen.votes.items():
        assert counts.get(battle_id) == [winner], (
            f"acknowledged vote {winner!r} on {battle_id[:8]} is not stored: "
            f"{counts.get(battle_id)}"
        )

    tries = attempts(url)
    by_gen: dict[str, list[dict[str, Any]]] = {}
    for a in tries:
        by_gen.setdefault(a["generation_id"], []).append(a)
    for g in gens:
        log = by_gen.get(g["id"], [])
        record = [(a["attempt"], a["worker_id"], a["outcome"]) for a in log]
        dones = [a for a in log if a["outcome"] == "done"]
        assert len(dones) <= 1, (
            f"generation {g['id'][:8]} (battle {g['battle_id'][:8]} side {g['side']}) was "
            f"generated to the end more than once: {record}"
        )
        if g["status"] == "done":
            assert len(dones) == 1, (
                f"generation {g['id'][:8]} is done but its attempt record shows no single "
                f"attempt that finished it (one row per attempt in generation_attempts): "
                f"attempts column {g['attempts']}, records {record}"
            )
    late = sql(url, """
        SELECT a.generation_id, a.attempt, a.worker_id, a.outcome
        FROM generation_attempts a JOIN generations g ON g.id = a.generation_id
        WHERE g.finished_at IS NOT NULL AND a.started_at > g.finished_at
    """)
    mine = {g["id"] for g in gens}
    late = [r for r in late if norm_id(r["generation_id"]) in mine]
    assert not late, f"attempts started after their generation had finished: {late}"


# ----------------------------------------------------------------------- private servers


class PrivateRedis:
    """A redis-server of this test alone, on a free port, keeping nothing on disk: killing
    it loses everything, as the machine's Redis would."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            missing_service("redis-server", "install it (apt-get install redis-server)")
        self.binary = str(binary)
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_until(self.ping, timeout=15, what=f"private redis on port {self.port}",
                   state=lambda: (self.workdir / "redis.log").read_text()[-2000:])

    def ping(self) -> bool:
        import redis

        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"redis-server exited: {(self.workdir / 'redis.log').read_text()}")
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def kill(self) -> None:
        """Lose everything at once (SIGKILL)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        self.kill()


PG_BIN = Path(os.environ.get("ARENA_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PrivatePostgres:
    """A PostgreSQL cluster of this test alone (initdb into a temporary directory, trust
    auth, a free port, its socket in that directory), run as user `postgres` when the tests
    run as root. Stop and start it at will; `cleanup` always removes it."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            missing_service(f"PostgreSQL binaries in {PG_BIN}",
                            "install postgresql-15 or set ARENA_TEST_PG_BIN")
        self.root = Path(tempfile.mkdtemp(prefix="arena-fault-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self.running = False

    def _run(self, *args: str, timeout: float = 60) -> None:
        cmd = [str(PG_BIN / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n"
                               f"{done.stderr}\n{self.log()}")

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", timeout=120)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                        "-c fsync=off", "-w", "-t", "60", "start", timeout=90)
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop",
                  timeout=90)
        self.running = False

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        async def create() -> None:
            import asyncpg

            conn = await asyncpg.connect(self.admin_url(), timeout=10)
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(create())
        return self.url(name)

    def cleanup(self) -> None:
        if self.running:
            with contextlib.suppress(Exception):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


# ----------------------------------------------------------------------- outage probes


@dataclass
class Probe:
    """One request made during a fault, with what came back (never raises)."""

    method: str
    path: str
    status: int | None
    body: str
    error: str | None = None

    @property
    def detail(self) -> str | None:
        try:
            value = json.loads(self.body).get("detail")
        except (ValueError, AttributeError):
            return None
        return value if isinstance(value, str) else None

    def __str__(self) -> str:
        what = self.error or f"{self.status} {self.body[:200]!r}"
        return f"{self.method} {self.path} → {what}"


def probe(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Probe:
    try:
        r = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:  # a reset or refused connection, a timeout
        return Probe(method, path, None, "", repr(exc))
    return Probe(method, path, r.status_code, r.text)


def probe_battle(client: httpx.Client, **form: str) -> Probe:
    return probe(client, "POST", "/api/battles",
                 files={"image": ("pic.png", png_bytes(), "image/png")},
                 data={"prompt": "What is in the image?", **form})


def created_id(p: Probe, stack: ArenaStack | None = None) -> str:
    """The id of a battle whose creation must have succeeded (201)."""
    assert p.status == 201, f"battle creation failed: {p}" + (
        f"\n{stack_logs(stack)}" if stack else "")
    return json.loads(p.body)["id"]


# Words that would mean an error page leaked internals rather than saying what is wrong.
LEAKS = ("Traceback", "asyncpg", "sqlalchemy", "redis.exceptions", "ConnectionRefused",
         "OperationalError", "Internal Server Error", "Errno")


def unclear_503(p: Probe, model_names: Iterable[str]) -> str | None:
    """What is wrong with an outage answer: it must be a 503 with a message a visitor can
    read, that leaks nothing and names no model (None: nothing wrong)."""
    if p.error is not None:
        return f"{p}: the connection failed instead of an answer"
    if p.status != 503:
        return f"{p}: expected 503 with a clear message"
    text = p.detail if p.path.startswith("/api/") else p.body
    if not text or len(text.strip()) < 10:
        return f"{p}: no readable message"
    for word in (*LEAKS, *model_names):
        if word in p.body:
            return f"{p}: the answer mentions {word!r}"
    return None


def assert_clear_503(p: Probe, model_names: Iterable[str]) -> None:
    problem = unclear_503(p, model_names)
    assert problem is None, problem


def stop_stack(stack: ArenaStack, timeout: float = 30) -> None:
    """Stop every process of the stack at once (SIGTERM to all, then wait; SIGKILL what is
    left), instead of one after another: a torch worker takes seconds to exit."""
    for proc in stack.procs.values():
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGCONT)  # a frozen one could not stop
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in stack.procs.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    stack.stop()  # forgets them; SIGKILLs any that did not exit
