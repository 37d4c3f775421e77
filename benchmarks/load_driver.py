"""A load run against a running arena: N simulated visitors for M seconds, over HTTP.

Used by the CI load test (tests/faults/test_load_run.py) and the longer benchmark
(benchmarks/bench_load.py). It knows the arena only through its public JSON API and SSE
stream (and, for the checks afterwards, the tables `votes`, `generations`, `turns`,
`generation_attempts`), so
it runs against the embedded default or the deployment path alike.

Each visitor (its own cookie jar, its own connections) accepts the terms once, then loops
until the run's time is up: start an anonymous battle with a small PNG, read the SSE
stream to its `end` event (sometimes dropping the connection mid-answer and resuming with
Last-Event-ID, as a reloading browser does), sometimes ask a follow-up question and read
that turn too, then vote. Some visitors use several tabs at once (battles started in
parallel under one cookie), which is what the per-visitor cap on answers in flight is for;
some battles upload the same image as others (a popular picture).

A 429 is the arena refusing on purpose: it is counted apart and its Retry-After is
honoured (the visitor waits, at most until the run ends). Anything else is an error:
another non-2xx answer, an exception (reset connection, timeout), a stream that ended
without both answers or whose deltas do not add up to the answer shown, an `end` event
that refuses the vote on two finished answers, and (checked in the database afterwards)
an acknowledged vote that is not stored or a generation that never finished.

Bounded: the number of visitors, the run's length, each request's and each stream's
timeout, and a hard deadline after which every visitor is cancelled. Loopback only: the
base URL must be 127.0.0.1 / localhost.

Latencies are measured as the visitor sees them, on the client's clock:
- battle creation: POST /api/battles sent → response (upload, checks, rows, enqueue);
- follow-up: POST /api/battles/{id}/turns sent → response;
- TTFT: the question sent (battle or follow-up POST) → the first text of either side
  (a delta, or a whole answer if it was finished before the stream got there);
- stream completion: the question sent → the `end` event (both answers finished);
- vote: POST /api/battles/{id}/vote sent → response.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
PROMPTS = (
    "What is in the image?",
    "Describe this picture in one sentence.",
    "What colour is the image?",
    "Is there any text in this image?",
)
FOLLOW_UPS = ("Can you say more?", "Why do you think so?", "Answer in three words.")
METRICS = ("battle creation", "follow-up", "TTFT", "stream completion", "vote")


@dataclass
class LoadConfig:
    """What one load run does. Probabilities are per battle."""

    base_url: str
    visitors: int = 8
    duration_s: float = 30.0
    follow_up_p: float = 0.25
    reload_p: float = 0.25
    shared_image_p: float = 0.3  # many visitors upload the same (popular) image
    multi_tab_p: float = 0.25  # visitors who start battles in several tabs at once
    tabs: int = 3
    think_s: tuple[float, float] = (0.2, 1.0)  # a visitor's pause before each action
    ramp_s: float = 2.0  # visitors arrive spread over this long
    request_timeout_s: float = 30.0
    stream_timeout_s: float = 120.0
    grace_s: float = 60.0  # after duration_s, the battles under way may finish for this long
    max_retry_wait_s: float = 120.0  # the longest Retry-After a visitor waits for
    seed: int = 0

    def __post_init__(self) -> None:
        host = urlsplit(self.base_url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"load runs target loopback only, not {host!r}")
        if not 1 <= self.visitors <= 1024 or not 0 < self.duration_s <= 3600:
            raise ValueError("visitors must be 1..1024 and duration_s 0..3600")


@dataclass
class LoadError:
    visitor: int
    kind: str  # http | exception | stream | vote-refused | vote-missing | stuck | ...
    what: str  # the endpoint or the battle
    detail: str

    def __str__(self) -> str:
        return f"[visitor {self.visitor}] {self.kind} {self.what}: {self.detail}"


@dataclass
class LoadResult:
    config: LoadConfig
    started: float = 0.0
    wall_s: float = 0.0
    latencies_ms: dict[str, list[float]] = field(
        default_factory=lambda: {name: [] for name in METRICS})
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)  # (endpoint, code)
    refusals: Counter[str] = field(default_factory=Counter)  # deliberate 429s by endpoint
    retry_wait_s: float = 0.0  # time visitors spent honouring Retry-After
    errors: list[LoadError] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    battles: list[str] = field(default_factory=list)
    votes: dict[str, str] = field(default_factory=dict)  # battle id → winner (2xx only)
    answers: dict[tuple[str, int, str], str] = field(default_factory=dict)  # shown finals
    db: dict[str, Any] = field(default_factory=dict)

    def error(self, visitor: int, kind: str, what: str, detail: str) -> None:
        self.errors.append(LoadError(visitor, kind, what, detail[:1500]))

    @property
    def error_kinds(self) -> Counter[str]:
        return Counter(e.kind for e in self.errors)


# --------------------------------------------------------------------------- statistics


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks (numpy's default)."""
    data = sorted(values)
    if not data:
        return float("nan")
    pos = (len(data) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def format_report(result: LoadResult, title: str = "load run") -> str:
    """The run as markdown tables: latencies, responses, and what went wrong."""
    cfg = result.config
    lines = [
        f"{title}: {cfg.visitors} visitors x {cfg.duration_s:.0f} s "
        f"(wall {result.wall_s:.1f} s), follow-up p={cfg.follow_up_p}, reload p={cfg.reload_p}",
        "",
        "| latency (ms) | n | p50 | p95 | p99 | max |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in METRICS:
        xs = result.latencies_ms[name]
        if not xs:
            lines.append(f"| {name} | 0 | - | - | - | - |")
            continue
        p50, p95, p99 = (percentile(xs, q) for q in (50, 95, 99))
        lines.append(f"| {name} | {len(xs)} | {p50:,.0f} | {p95:,.0f} | {p99:,.0f} "
                     f"| {max(xs):,.0f} |")
    lines += ["", "| endpoint | 2xx | 429 (deliberate) | other |", "|---|---:|---:|---:|"]
    endpoints = sorted({e for e, _ in result.statuses})
    for ep in endpoints:
        ok = sum(n for (e, s), n in result.statuses.items() if e == ep and 200 <= s < 300)
        limited = result.statuses.get((ep, 429), 0)
        other = sum(n for (e, s), n in result.statuses.items()
                    if e == ep and not 200 <= s < 300 and s != 429)
        lines.append(f"| {ep} | {ok} | {limited} | {other} |")
    c = result.counts
    minutes = max(result.wall_s, 1e-9) / 60
    lines += [
        "",
        f"visitors {c['visitors']} in {c['tabs']} tabs, "
        f"battles {c['battles']}, streams read to the end {c['streams']}, follow-ups "
        f"{c['follow_ups']}, reloads with Last-Event-ID {c['reloads']}, votes "
        f"{len(result.votes)} ({len(result.votes) / minutes:.1f}/min); "
        f"time spent honouring Retry-After {result.retry_wait_s:.0f} s",
    ]
    if result.db:
        lines.append("database: " + ", ".join(f"{k} {v}" for k, v in result.db.items()))
    kinds = result.error_kinds
    lines.append(f"errors: {len(result.errors)}"
                 + (" (" + ", ".join(f"{k} {n}" for k, n in kinds.most_common()) + ")"
                    if kinds else ""))
    for err in result.errors[:20]:
        lines.append(f"  {err}")
    if len(result.errors) > 20:
        lines.append(f"  ... and {len(result.errors) - 20} more")
    return "\n".join(lines)


# --------------------------------------------------------------------------- images


def png(color: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


SHARED_IMAGE = png((30, 144, 255))


# --------------------------------------------------------------------------- one visitor


class _Stop(Exception):
    """The run's time is up (raised while waiting before an action)."""


@dataclass
class _Stream:
    """What one turn's stream showed, across reconnects."""

    text: dict[str, str] = field(default_factory=dict)  # deltas since the last reset
    final: dict[str, str] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)
    live_done: set[str] = field(default_factory=set)  # done right after deltas, same conn
    trail: list[str] = field(default_factory=list)  # what came, compressed (for errors)
    end: dict[str, Any] | None = None
    first_text_at: float | None = None
    last_id: str | None = None

    def note(self, what: str) -> None:
        if self.trail and self.trail[-1].split(" x")[0] == what:
            base, _, n = self.trail[-1].partition(" x")
            self.trail[-1] = f"{base} x{int(n or 1) + 1}"
        else:
            self.trail.append(what)


@dataclass
class _Reply:
    """A 2xx answer, or a 429 whose Retry-After has been waited out."""

    status: int
    body: Any
    elapsed_ms: float

    @property
    def refused(self) -> bool:
        return self.status == 429


class Visitor:
    """One simulated visitor: one cookie jar; one browser tab, or (`tabs` > 1) several
    tabs that start battles at the same time, as an impatient visitor does; those meet
    the per-visitor cap on answers in flight (a deliberate 429)."""

    def __init__(self, index: int, cfg: LoadConfig, result: LoadResult, deadline: float) -> None:
        self.index = index
        self.cfg = cfg
        self.result = result
        self.deadline = deadline
        self.rng = random.Random(cfg.seed * 1_000_003 + index)
        self.tabs = cfg.tabs if self.rng.random() < cfg.multi_tab_p else 1
        self.client = httpx.AsyncClient(
            base_url=cfg.base_url,
            timeout=httpx.Timeout(cfg.request_timeout_s),
            limits=httpx.Limits(max_connections=2 * self.tabs + 2),
        )

    # -- helpers ---------------------------------------------------------------------
    def left(self) -> float:
        return self.deadline - time.monotonic()

    async def pause(self, low: float, high: float) -> None:
        wait = self.rng.uniform(low, high)
        if wait >= self.left():
            raise _Stop
        await asyncio.sleep(wait)

    async def request(self, endpoint: str, method: str, path: str, **kw: Any) -> _Reply | None:
        """One request. A 429 is counted as deliberate and its Retry-After honoured (up to
        the end of the run) before it is returned; anything else that is not 2xx, or an
        exception, is recorded as an error and gives None."""
        t0 = time.perf_counter()
        try:
            r = await self.client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            self.result.statuses[(endpoint, 0)] += 1
            self.result.error(self.index, "exception", endpoint, repr(exc))
            return None
        elapsed = (time.perf_counter() - t0) * 1000
        self.result.statuses[(endpoint, r.status_code)] += 1
        if r.status_code == 429:
            self.result.refusals[endpoint] += 1
            retry = r.headers.get("Retry-After", "")
            if not retry.isdigit():
                self.result.error(self.index, "http", endpoint,
                                  f"429 without a Retry-After in seconds: {retry!r}")
                retry = "1"
            wait = min(float(retry), self.cfg.max_retry_wait_s, max(self.left(), 0))
            self.result.retry_wait_s += wait
            await asyncio.sleep(wait)
            return _Reply(429, None, elapsed)
        if not 200 <= r.status_code < 300:
            self.result.error(self.index, "http", endpoint,
                              f"{r.status_code} {r.text[:300]!r}")
            return None
        try:
            body = r.json()
        except ValueError:
            self.result.error(self.index, "http", endpoint,
                              f"{r.status_code} with a body that is not JSON: {r.text[:200]!r}")
            return None
        return _Reply(r.status_code, body, elapsed)

    # -- the visitor's life ----------------------------------------------------------
    async def run(self) -> None:
        try:
            await asyncio.sleep(self.rng.uniform(0, self.cfg.ramp_s))
            while True:
                reply = await self.request("POST /consent", "POST", "/api/consent",
                                           json={"accept": True})
                if reply is not None and not reply.refused:
                    break
                await self.pause(0.5, 1.0)  # try again in a moment
            self.result.counts["visitors"] += 1
            self.result.counts["tabs"] += self.tabs
            await asyncio.gather(*(self.tab() for _ in range(self.tabs)))
        except _Stop:
            pass
        finally:
            await self.client.aclose()

    async def tab(self) -> None:
        try:
            while self.left() > 0:
                await self.pause(*self.cfg.think_s)
                await self.battle()
        except _Stop:
            pass

    async def battle(self) -> None:
        cfg, rng = self.cfg, self.rng
        image = (SHARED_IMAGE if rng.random() < cfg.shared_image_p
                 else png((rng.randrange(256), rng.randrange(256), rng.randrange(256))))
        sent = time.perf_counter()
        reply = await self.request(
            "POST /battles", "POST", "/api/battles",
            files={"image": ("pic.png", image, "image/png")},
            data={"prompt": rng.choice(PROMPTS)},
        )
        if reply is None or reply.refused:
            return
        self.result.latencies_ms["battle creation"].append(reply.elapsed_ms)
        battle_id = reply.body["id"]
        self.result.battles.append(battle_id)
        self.result.counts["battles"] += 1
        if not await self.read_turn(battle_id, 0, sent):
            return
        if rng.random() < cfg.follow_up_p and self.left() > 0:
            await self.pause(*cfg.think_s)
            sent = time.perf_counter()
            reply = await self.request("POST /turns", "POST", f"/api/battles/{battle_id}/turns",
                                       json={"prompt": rng.choice(FOLLOW_UPS)})
            if reply is None:
                return
            if not reply.refused:  # refused: the visitor votes on what it has
                self.result.latencies_ms["follow-up"].append(reply.elapsed_ms)
                self.result.counts["follow_ups"] += 1
                if not await self.read_turn(battle_id, len(reply.body["turns"]) - 1, sent):
                    return
        await self.pause(*cfg.think_s)
        await self.vote(battle_id)

    async def vote(self, battle_id: str) -> None:
        winner = self.rng.choice(WINNERS)
        while self.left() > 0:
            reply = await self.request("POST /vote", "POST", f"/api/battles/{battle_id}/vote",
                                       json={"winner": winner})
            if reply is None:
                return  # an error, recorded: do not send it again
            if not reply.refused:
                self.result.latencies_ms["vote"].append(reply.elapsed_ms)
                self.result.votes[battle_id] = winner
                return

    # -- the stream ------------------------------------------------------------------
    async def read_turn(self, battle_id: str, turn: int, sent: float) -> bool:
        """Read one turn's stream to its end, as a browser would; True when both answers
        finished and the vote is offered (else the error is recorded)."""
        what = f"battle {battle_id[:8]} turn {turn}"
        state = _Stream()
        reload_after = (self.rng.randint(1, 6) if self.rng.random() < self.cfg.reload_p
                        else None)
        path = f"/api/battles/{battle_id}/stream?turn={turn}"
        connections = 0
        try:
            async with asyncio.timeout(self.cfg.stream_timeout_s):
                while state.end is None:
                    connections += 1
                    if connections > 10:
                        self.result.error(self.index, "stream", what,
                                          "more than 10 connections without an end event")
                        return False
                    dropped = await self._connect(path, state, reload_after)
                    if dropped == "error":
                        return False
                    if dropped == "reload":
                        reload_after = None
                        self.result.counts["reloads"] += 1
                        await asyncio.sleep(self.rng.uniform(0.1, 0.8))  # the page reloads
                    elif state.end is None:
                        self.result.error(self.index, "stream", what,
                                          "the stream closed before its end event")
                        return False
        except TimeoutError:
            self.result.error(self.index, "stream", what,
                              f"no end event within {self.cfg.stream_timeout_s:.0f} s "
                              f"(finished sides {sorted(state.final)})")
            return False
        except httpx.HTTPError as exc:
            self.result.statuses[("GET /stream", 0)] += 1
            self.result.error(self.index, "exception", f"GET /stream ({what})", repr(exc))
            return False
        now = time.perf_counter()
        self.result.counts["streams"] += 1
        if state.first_text_at is not None:
            self.result.latencies_ms["TTFT"].append((state.first_text_at - sent) * 1000)
        self.result.latencies_ms["stream completion"].append((now - sent) * 1000)
        return self._check_turn(battle_id, turn, state, what)

    async def _connect(self, path: str, state: _Stream, reload_after: int | None) -> str:
        """One connection: 'end', 'reload' (dropped on purpose), 'closed' or 'error'."""
        headers = {"Last-Event-ID": state.last_id} if state.last_id else {}
        state.note(f"connect({state.last_id or ''})")
        timeout = httpx.Timeout(self.cfg.request_timeout_s, read=self.cfg.stream_timeout_s)
        deltas_here = 0
        sides_with_deltas: set[str] = set()
        async with self.client.stream("GET", path, headers=headers, timeout=timeout) as r:
            self.result.statuses[("GET /stream", r.status_code)] += 1
            if r.status_code != 200:
                body = (await r.aread())[:300]
                self.result.error(self.index, "http", "GET /stream",
                                  f"{r.status_code} {body!r}")
                return "error"
            current: dict[str, str] = {}
            async for line in r.aiter_lines():
                if line == "":
                    if "event" in current:
                        event = current["event"]
                        data = json.loads(current.get("data") or "{}")
                        if current.get("id"):
                            state.last_id = current["id"]
                        if event == "end":
                            state.end = data
                            return "end"
                        if event in ("a", "b"):
                            kind = data.get("type")
                            state.note(f"{event}:{kind}")
                            if kind == "delta":
                                if state.first_text_at is None:
                                    state.first_text_at = time.perf_counter()
                                state.text[event] = state.text.get(event, "") + data["text"]
                                sides_with_deltas.add(event)
                                deltas_here += 1
                                if reload_after is not None and deltas_here >= reload_after:
                                    return "reload"
                            elif kind == "reset":
                                state.text[event] = ""
                            elif kind == "done":
                                if state.first_text_at is None:
                                    state.first_text_at = time.perf_counter()
                                state.final[event] = data.get("text", "")
                                if event in sides_with_deltas:
                                    state.live_done.add(event)
                            elif kind == "error":
                                state.failed.add(event)
                    current = {}
                    continue
                if line.startswith(":"):
                    continue
                key, _, value = line.partition(":")
                current[key] = value.lstrip(" ")
        return "closed"

    def _check_turn(self, battle_id: str, turn: int, state: _Stream, what: str) -> bool:
        ok = True
        if state.failed:
            self.result.error(self.index, "stream", what,
                              f"side(s) {sorted(state.failed)} ended with an error")
            ok = False
        for side in "ab":
            final = state.final.get(side)
            if final is None:
                if side not in state.failed:
                    self.result.error(self.index, "stream", what,
                                      f"side {side} never showed a finished answer")
                ok = False
                continue
            self.result.answers[(battle_id, turn, side)] = final
            streamed = state.text.get(side)
            if streamed is None:
                continue
            if side in state.live_done and streamed != final:
                self.result.error(self.index, "stream", what,
                                  f"side {side}: the deltas ({len(streamed)} chars) are not "
                                  f"the answer ({len(final)} chars; "
                                  f"{'a prefix' if final.startswith(streamed) else 'differ'}); "
                                  f"events {' '.join(state.trail)}")
                ok = False
            elif not final.startswith(streamed):
                self.result.error(self.index, "stream", what,
                                  f"side {side}: the deltas ({len(streamed)} chars) do not "
                                  f"start the answer ({len(final)} chars); "
                                  f"events {' '.join(state.trail)}")
                ok = False
        if ok and not (state.end or {}).get("can_vote"):
            self.result.error(self.index, "vote-refused", what,
                              f"both answers finished but the end event says {state.end}")
            ok = False
        return ok


# --------------------------------------------------------------------------- the run


async def run_load(cfg: LoadConfig) -> LoadResult:
    """Run the visitors until `duration_s` is over (battles under way get `grace_s` more to
    finish); then every visitor is cancelled."""
    result = LoadResult(cfg)
    result.started = time.time()
    t0 = time.monotonic()
    deadline = t0 + cfg.duration_s
    visitors = [Visitor(i, cfg, result, deadline) for i in range(cfg.visitors)]
    tasks = [asyncio.create_task(v.run(), name=f"visitor-{v.index}") for v in visitors]
    done, pending = await asyncio.wait(tasks, timeout=cfg.duration_s + cfg.grace_s)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if pending:
        result.error(-1, "unfinished", "run",
                     f"{len(pending)} visitors were still busy {cfg.grace_s:.0f} s after "
                     "the end and were cancelled")
    for task in done:
        if task.exception() is not None:
            exc = task.exception()
            result.error(-1, "exception", task.get_name(), f"{type(exc).__name__}: {exc}")
    result.wall_s = time.monotonic() - t0
    return result


# --------------------------------------------------------------------------- afterwards


def _norm(value: Any) -> str:
    return str(uuid.UUID(str(value)))


async def verify_database(result: LoadResult, database_url: str, *, settle_s: float = 60.0
                          ) -> None:
    """Check in the database what the visitors were told: every acknowledged vote is stored
    with its winner; every generation of the run's battles ends done or failed (waiting
    up to `settle_s` for those still being written) and none failed; no generation was
    generated to the end twice (table `generation_attempts`). Adds errors to `result`."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(database_url, poolclass=NullPool)
    battles = {_norm(b) for b in result.battles}
    try:
        deadline = time.monotonic() + settle_s
        while True:
            async with engine.connect() as conn:
                rows = (await conn.execute(text(
                    "SELECT t.battle_id, t.\"index\", g.side, g.status FROM generations g "
                    "JOIN turns t ON t.id = g.turn_id"))).all()
            mine = [(_norm(b), i, s, st) for b, i, s, st in rows if _norm(b) in battles]
            unfinished = [r for r in mine if r[3] not in ("done", "failed")]
            if not unfinished or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        async with engine.connect() as conn:
            votes = (await conn.execute(text("SELECT battle_id, winner FROM votes"))).all()
            tries = (await conn.execute(text(
                "SELECT a.generation_id, a.outcome, t.battle_id FROM generation_attempts a "
                "JOIN generations g ON g.id = a.generation_id "
                "JOIN turns t ON t.id = g.turn_id"))).all()
    finally:
        await engine.dispose()
    statuses = Counter(r[3] for r in mine)
    result.db = {"generations": len(mine), **{k: statuses[k] for k in sorted(statuses)}}
    for b, i, s, st in unfinished:
        result.error(-1, "stuck", f"battle {b[:8]} turn {i} side {s}",
                     f"still {st} {settle_s:.0f} s after the run")
    stored: dict[str, list[str]] = {}
    for b, w in votes:
        stored.setdefault(_norm(b), []).append(w)
    result.db["votes stored"] = sum(len(stored.get(_norm(b), [])) for b in battles)
    for battle_id, winner in result.votes.items():
        got = stored.get(_norm(battle_id))
        if got != [winner]:
            result.error(-1, "vote-missing", f"battle {battle_id[:8]}",
                         f"acknowledged {winner!r}, stored {got}")
    per_gen: dict[str, list[str]] = {}
    for gen_id, outcome, b in tries:
        if _norm(b) in battles:
            per_gen.setdefault(_norm(gen_id), []).append(outcome)
    result.db["attempts"] = sum(len(v) for v in per_gen.values())
    result.db["generations run more than once"] = sum(len(v) > 1 for v in per_gen.values())
    for gen_id, outcomes in per_gen.items():
        if outcomes.count("done") > 1:
            result.error(-1, "generated-twice", f"generation {gen_id[:8]}",
                         f"more than one attempt ended done: {outcomes}")
    failed = statuses.get("failed", 0)
    if failed:
        result.error(-1, "failed", "generations", f"{failed} generations ended failed")
