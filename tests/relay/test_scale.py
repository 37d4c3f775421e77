"""The relay at scale on the real stack: 200 concurrent SSE clients on one web process
(its Redis connections do not grow with them), a visitor who resumes on another web
process, and a client too slow to read that neither delays a fast one nor grows the web
process's buffers (it is told to reconnect and resumes from its cursor)."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from benchmarks.token_source import parse_tokens
from tests.arena.stack import (
    ArenaStack,
    SSEEvent,
    assert_streams_match_answers,
    consented_client,
    create_battle,
    frozen,
    read_sse,
)
from tests.relay.conftest import SOURCES, web_redis_connections
from tests.relay.test_streaming import leave_and_return, metric, stored_answers, wait_for

DIRECT = {"mode": "direct", "model_a": "src-a"}


async def stream_answer(client: httpx.AsyncClient, battle_id: str) -> dict[str, list[str]]:
    """Every event's data type and delta text of one direct chat's stream, to `end`."""
    kinds: list[str] = []
    texts: list[str] = []
    final = ""
    async with client.stream("GET", f"/api/battles/{battle_id}/stream", timeout=120) as r:
        assert r.status_code == 200
        event = ""
        async for line in r.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event == "a":
                data = json.loads(line[5:])
                kinds.append(data["type"])
                if data["type"] == "delta":
                    texts.append(data["text"])
                elif data["type"] == "done":
                    final = data["text"]
            elif line.startswith("data:") and event == "end":
                break
    return {"kinds": kinds, "texts": texts, "final": [final]}


async def many_clients(stack: ArenaStack, cookies: httpx.Cookies, ids: list[str]) -> dict:
    limits = httpx.Limits(max_connections=len(ids) + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=stack.url, cookies=cookies, limits=limits,
                                 timeout=120) as client:
        base = metric(stack, "arena_sse_connections")
        small = [asyncio.create_task(stream_answer(client, i)) for i in ids[:20]]
        await asyncio.to_thread(wait_for, lambda: metric(
            stack, "arena_sse_connections") == base + 20, 60)
        with_20 = web_redis_connections(stack)
        big = [asyncio.create_task(stream_answer(client, i)) for i in ids[20:]]
        await asyncio.to_thread(wait_for, lambda: metric(
            stack, "arena_sse_connections") == base + len(ids), 60)
        with_all = web_redis_connections(stack)
        stack.send_signal("w-src-a", signal.SIGCONT)
        results = await asyncio.wait_for(asyncio.gather(*small, *big), 120)
    return {"with_20": with_20, "with_all": with_all, "results": results}


def test_200_clients_on_one_web_process_all_get_their_answers(relay_stack: ArenaStack) -> None:
    client = consented_client(relay_stack.url)
    with frozen(relay_stack, ["w-src-a"]):
        with ThreadPoolExecutor(8) as pool:  # httpx.Client is thread-safe
            ids = list(pool.map(lambda _: create_battle(client, **DIRECT)["id"], range(200)))
        out = asyncio.run(many_clients(relay_stack, client.cookies, ids))
    # One reader for all of them: the same connections with 20 clients as with 200.
    assert out["with_20"] == out["with_all"], out
    for result in out["results"]:
        assert "delta" in result["kinds"][: result["kinds"].index("done")]
        assert "".join(result["texts"]) == result["final"][0]
        assert [i for i, _ in parse_tokens(result["final"][0])] == list(
            range(SOURCES["src-a"][1]))


@pytest.fixture
def second_web(relay_stack: ArenaStack) -> Iterator[ArenaStack]:
    """Another web process of the same deployment (same database, Redis and secrets)."""
    log_dir = relay_stack.log_dir / "web2"
    log_dir.mkdir(exist_ok=True)
    from tests.conftest import free_port

    other = ArenaStack(env=relay_stack.env, port=free_port(), log_dir=log_dir)
    try:
        other.start_web()
        yield other
    finally:
        other.stop()


def test_a_visitor_resumes_on_another_web_process_without_loss(
    relay_stack: ArenaStack, second_web: ArenaStack,
) -> None:
    client = consented_client(relay_stack.url)
    elsewhere = httpx.Client(base_url=second_web.url, cookies=client.cookies, timeout=60)
    leave_and_return(relay_stack, client, elsewhere)


def open_unread_stream(stack: ArenaStack, cookies: httpx.Cookies, battle_id: str
                       ) -> socket.socket:
    """An SSE request whose client then reads nothing (a tiny receive window)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", stack.port))
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    sock.sendall((f"GET /api/battles/{battle_id}/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  f"Cookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n").encode())
    return sock


def drain(sock: socket.socket, timeout: float = 60) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    while chunk := sock.recv(1 << 20):
        chunks.append(chunk)
        if b"0\r\n\r\n" in chunks[-1][-16:]:  # the end of the chunked response
            break
    return b"".join(chunks)


def sse_events(raw: bytes) -> list[SSEEvent]:
    """Parse an SSE body that came over a raw socket (chunked framing stripped)."""
    body = raw.split(b"\r\n\r\n", 1)[1]
    text, out = b"", b""
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out += body[:size]
        body = body[size + 2:]
    text = out.decode()
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines()
                      if ": " in line and not line.startswith(":"))
        if "event" in fields:
            events.append(SSEEvent(fields["event"], fields.get("id"),
                                   json.loads(fields.get("data", "{}"))))
    return events


def test_a_slow_client_is_told_to_reconnect_and_does_not_delay_a_fast_one(
    relay_stack: ArenaStack,
) -> None:
    client = consented_client(relay_stack.url)
    with frozen(relay_stack, ["w-src-bulk", "w-src-a"]) as resume:
        bulk = create_battle(client, mode="direct", model_a="src-bulk")
        fast = create_battle(client, **DIRECT)
        slow = open_unread_stream(relay_stack, client.cookies, bulk["id"])
        try:
            before = metric(relay_stack, "arena_relay_lagging_dropped_total")
            time.sleep(0.5)
            events = read_sse(client, f"/api/battles/{fast['id']}/stream", on_open=resume)
            # The fast client got its whole answer while the slow one read nothing.
            assert assert_streams_match_answers(events, "a")["a"] == stored_answers(
                client, fast["id"])["a"]
            wait_for(lambda: metric(relay_stack, "arena_relay_lagging_dropped_total")
                     == before + 1, timeout=60)
            raw = drain(slow)
        finally:
            slow.close()
    first = sse_events(raw)
    assert first[-1].event == "status" and first[-1].data == {"type": "reconnect"}
    last_id = next(e.id for e in reversed(first) if e.id)
    rest = read_sse(client, f"/api/battles/{bulk['id']}/stream", last_event_id=last_id)
    assert rest[-1].event == "end" and rest[-1].data["failed"] is False, rest[-3:]
    streamed = "".join(e.data["text"] for e in first + rest
                       if e.event == "a" and e.data["type"] == "delta")
    stored = stored_answers(client, bulk["id"])["a"]
    assert [i for i, _ in parse_tokens(stored)] == list(range(SOURCES["src-bulk"][1])), (
        len(stored), stored[:200])
    # What the slow client read before it was dropped plus the rest is the whole answer.
    assert streamed == stored or (rest[0].data["type"] == "done" and stored.startswith(
        streamed))
