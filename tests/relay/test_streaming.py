"""Streaming through the real relay (uvicorn, PostgreSQL, Redis, token-source workers):
a client connected before generation starts is sent deltas that add up to the stored
answer; what arrives between two reads leaves as one event per side; a client that
disconnects mid-answer and comes back with its last event id gets exactly the rest; a
gone client releases its subscription at once."""

from __future__ import annotations

import signal
import threading
import time
import uuid

import httpx
import redis
from sqlalchemy import select

from app.db.models import Generation, Turn
from benchmarks.token_source import parse_tokens
from tests.arena.stack import (
    ArenaStack,
    SSEEvent,
    answers_from,
    assert_streams_match_answers,
    consented_client,
    create_battle,
    db_query,
    frozen,
    read_sse,
)
from tests.relay.conftest import SOURCES, WORKER_METRICS_PORT

PAIR = {"mode": "side_by_side", "model_a": "src-a", "model_b": "src-b"}
WORKERS = ["w-src-a", "w-src-b"]


def stored_answers(client: httpx.Client, battle_id: str) -> dict[str, str]:
    view = client.get(f"/api/battles/{battle_id}").json()
    return {side: view["turns"][0][side]["text"] for side in "ab" if view["turns"][0][side]}


def assert_whole_token_run(text: str, model: str) -> None:
    """The token source's answer, every token once and in order."""
    assert [i for i, _ in parse_tokens(text)] == list(range(SOURCES[model][1]))


def metric(stack: ArenaStack, name: str) -> float:
    # Generous: on the loaded test machine a scrape may wait behind hundreds of requests.
    for line in httpx.get(f"{stack.url}/metrics", timeout=60).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def assert_held_mid_answer(view: dict, first: list[SSEEvent]) -> None:
    """Neither side finished while the client was away; the side it saw text of runs."""
    status = {s: view["turns"][0][s]["status"] for s in "ab"}
    assert set(status.values()) <= {"queued", "running"}, status
    assert status[first[-1].event] == "running", status


def wait_for(check, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_a_client_connected_before_generation_is_sent_the_answer_as_deltas(
    relay_stack: ArenaStack,
) -> None:
    client = consented_client(relay_stack.url)
    with frozen(relay_stack, WORKERS) as resume:
        battle = create_battle(client, **PAIR)
        events = read_sse(client, f"/api/battles/{battle['id']}/stream", on_open=resume)
    final = assert_streams_match_answers(events)
    assert final == stored_answers(client, battle["id"])
    assert_whole_token_run(final["a"], "src-a")
    assert_whole_token_run(final["b"], "src-b")
    assert events[-1].event == "end" and events[-1].data["can_vote"] is True


def test_entries_that_arrive_between_two_reads_leave_as_one_event_per_side(
    relay_stack: ArenaStack, pg_url: str, redis_url: str,
) -> None:
    """The web process is held while both answers are written: when it wakes, its reader
    finds every entry at once, and each side's text goes out joined (the first entry may
    have been handed to the reader before it was held: at most two deltas per side)."""
    client = consented_client(relay_stack.url)
    events: list[SSEEvent] = []
    opened = threading.Event()
    with frozen(relay_stack, WORKERS) as resume:
        battle = create_battle(client, **PAIR)
        reader = threading.Thread(target=lambda: events.extend(read_sse(
            client, f"/api/battles/{battle['id']}/stream", on_open=opened.set)))
        reader.start()
        assert opened.wait(30)
        time.sleep(0.3)  # the relay has subscribed
        relay_stack.send_signal("web", signal.SIGSTOP)
        try:
            resume()

            async def generations(session):  # type: ignore[no-untyped-def]
                rows = await session.execute(select(Generation.side, Generation.id,
                                                    Generation.status).join(Turn).where(
                    Turn.battle_id == uuid.UUID(battle["id"])))
                return {side: (str(gid), status) for side, gid, status in rows}

            wait_for(lambda: {s for _, s in db_query(pg_url, generations).values()}
                     == {"done"}, timeout=30)
        finally:
            relay_stack.send_signal("web", signal.SIGCONT)
    reader.join(60)
    assert not reader.is_alive()
    final = assert_streams_match_answers(events)
    prefix = relay_stack.env["ARENA_REDIS_PREFIX"]
    r = redis.Redis.from_url(redis_url)
    gens = db_query(pg_url, generations)
    for side in "ab":
        deltas = [e for e in events if e.event == side and e.data["type"] == "delta"]
        assert 1 <= len(deltas) <= 2, [e.data for e in events if e.event == side]
        assert "".join(d.data["text"] for d in deltas) == final[side]
        # ... while the worker wrote an entry per token or so.
        assert r.xlen(f"{prefix}gen:{gens[side][0]}") > 20


def leave_and_return(stack: ArenaStack, client: httpx.Client, returning: httpx.Client
                     ) -> tuple[dict, list[SSEEvent], list[SSEEvent]]:
    """A battle whose stream `client` leaves after its first delta, the workers held right
    then (so the answers are unfinished while it is away), and that `returning` (the same
    visitor, maybe on another web process) resumes with the last event id."""

    def hold_workers(ev: SSEEvent) -> None:
        if ev.data.get("type") == "delta":
            for name in WORKERS:
                stack.send_signal(name, signal.SIGSTOP)

    with frozen(stack, WORKERS) as resume:
        battle = create_battle(client, **PAIR)
        path = f"/api/battles/{battle['id']}/stream"
        first = read_sse(client, path, stop_after=1, on_open=resume, on_event=hold_workers)
        assert_held_mid_answer(returning.get(f"/api/battles/{battle['id']}").json(), first)
        rest = read_sse(returning, path, last_event_id=first[-1].id, on_open=resume)
    assert first[0].data["type"] == "delta" and rest[-1].event == "end"
    final = assert_streams_match_answers(first + rest)
    assert final == stored_answers(client, battle["id"])
    for side, model in (("a", "src-a"), ("b", "src-b")):
        assert_whole_token_run(answers_from(first + rest)["streamed"][side], model)
        # The rest really was streamed after the reconnect, not sent as a snapshot.
        assert any(e.event == side and e.data["type"] == "delta" for e in rest)
    return battle, first, rest


def test_a_client_that_leaves_mid_answer_and_returns_gets_exactly_the_rest(
    relay_stack: ArenaStack,
) -> None:
    client = consented_client(relay_stack.url)
    leave_and_return(relay_stack, client, client)


def test_a_gone_client_releases_its_subscription_at_once(relay_stack: ArenaStack) -> None:
    """The ping interval is 30 s here: a relay that noticed a disconnect only between reads
    would keep the subscription that long."""
    client = consented_client(relay_stack.url)
    before = metric(relay_stack, "arena_sse_connections")
    with frozen(relay_stack, WORKERS):  # no events at all while the client is there
        battle = create_battle(client, **PAIR)
        with client.stream("GET", f"/api/battles/{battle['id']}/stream") as response:
            assert response.status_code == 200
            wait_for(lambda: metric(relay_stack, "arena_sse_connections") == before + 1)
            assert metric(relay_stack, "arena_relay_streams") >= 2
        start = time.monotonic()
        wait_for(lambda: metric(relay_stack, "arena_sse_connections") == before, timeout=5)
        released_s = time.monotonic() - start
    assert released_s < 5
    assert read_sse(client, f"/api/battles/{battle['id']}/stream")[-1].event == "end"


def test_web_and_worker_export_prometheus_metrics(relay_stack: ArenaStack) -> None:
    client = consented_client(relay_stack.url)
    with frozen(relay_stack, WORKERS) as resume:
        battle = create_battle(client, **PAIR)
        read_sse(client, f"/api/battles/{battle['id']}/stream", on_open=resume)
    web = httpx.get(f"{relay_stack.url}/metrics", timeout=60)
    assert web.headers["content-type"].startswith("text/plain")
    assert metric(relay_stack, "arena_relay_lag_seconds_count") > 0
    assert 'arena_queue_depth{lane="live",model="src-a"}' in web.text
    worker = httpx.get(f"http://127.0.0.1:{WORKER_METRICS_PORT}/metrics", timeout=30).text
    samples = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
               for line in worker.splitlines() if line and not line.startswith("#")}
    assert samples['arena_generated_tokens_total{model="src-a"}'] >= SOURCES["src-a"][1]
    assert samples['arena_generation_ttft_seconds_count{model="src-a"}'] >= 1
    assert samples['arena_generations_total{model="src-a",outcome="done"}'] >= 1
    assert 'arena_worker_jobs_in_flight{model="src-a"}' in samples
    assert 'arena_queue_depth{lane="live",model="src-a"}' in samples
