"""The web process's single stream reader (app/web/relay.py) on both queue adapters: it
fans each read out to the subscriptions of those streams, wakes at once for a new stream,
gives every event once and in order to a subscription that joined late, and drops a
subscription that falls behind instead of waiting for it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from app.queue import JobQueue
from app.queue.memory_queue import MemoryQueue
from app.queue.redis_queue import RedisQueue
from app.web.relay import StreamRelay

LONG_BLOCK_MS = 60_000  # a read that a missing wake-up would wait out (the test fails first)


@pytest.fixture(params=["memory", "redis"])
async def queue(request: pytest.FixtureRequest) -> AsyncIterator[JobQueue]:
    if request.param == "memory":
        yield MemoryQueue()
        return
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix") + f"relay{uuid.uuid4().hex[:6]}:"
    q = RedisQueue(url, prefix=prefix)
    yield q
    await q.close()


async def delta(queue: JobQueue, gid: str, text: str) -> str:
    return await queue.publish(gid, {"type": "delta", "text": text})


async def texts(sub, timeout_s: float = 5.0) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.data["text"] for e in await sub.next(timeout_s)]


async def test_a_new_stream_is_read_at_once_while_the_reader_blocks(queue: JobQueue) -> None:
    relay = StreamRelay(queue, block_ms=LONG_BLOCK_MS)
    try:
        first = await relay.subscribe({"g1": "0-0"})
        await asyncio.sleep(0.3)  # the reader is now blocked on g1 alone
        second = await relay.subscribe({"g2": "0-0"})
        await delta(queue, "g2", "hello")
        assert await asyncio.wait_for(texts(second), 5) == ["hello"]
        await delta(queue, "g1", "one")
        assert await asyncio.wait_for(texts(first), 5) == ["one"]
        assert relay.streams == 2
        first.close()
        second.close()
        assert relay.streams == 0 and relay.subscriptions == 0
    finally:
        await relay.close()


async def test_what_gathered_between_reads_comes_as_one_batch(queue: JobQueue) -> None:
    relay = StreamRelay(queue, block_ms=LONG_BLOCK_MS)
    try:
        for word in ("a", "b", "c", "d"):
            await delta(queue, "g", word)
        sub = await relay.subscribe({"g": "0-0"})
        assert await texts(sub) == ["a", "b", "c", "d"]  # one read, one batch
    finally:
        await relay.close()


async def test_a_late_subscriber_gets_every_event_once_and_in_order(queue: JobQueue) -> None:
    relay = StreamRelay(queue, block_ms=LONG_BLOCK_MS)
    try:
        early = await relay.subscribe({"g": "0-0"})
        ids = [await delta(queue, "g", t) for t in ("1", "2", "3")]
        got: list[str] = []
        while len(got) < 3:
            got += await texts(early)
        assert got == ["1", "2", "3"]
        # Joins behind the reader (which is past "3"), then more arrives.
        late = await relay.subscribe({"g": ids[0]})
        await delta(queue, "g", "4")
        seen: list[str] = []
        while len(seen) < 3:
            seen += await texts(late)
        assert seen == ["2", "3", "4"]
        assert await late.next(0.3) == []  # nothing twice
        assert await texts(early) == ["4"]
    finally:
        await relay.close()


async def test_a_subscriber_that_falls_behind_is_dropped_not_waited_for(
    queue: JobQueue,
) -> None:
    relay = StreamRelay(queue, block_ms=LONG_BLOCK_MS, buffer_events=8)
    try:
        slow = await relay.subscribe({"g": "0-0"})
        fast = await relay.subscribe({"g": "0-0", "other": "0-0"})
        got: list[str] = []
        for i in range(20):
            await delta(queue, "g", str(i))
            got += await texts(fast)  # the fast one keeps reading; the slow one never does
        assert got == [str(i) for i in range(20)]
        assert slow.lagging and await slow.next(0.1) == []
        assert relay.subscriptions == 1 and relay.dropped_lagging == 1
    finally:
        await relay.close()


async def test_one_read_larger_than_the_buffer_does_not_drop_a_client_that_keeps_up(
    queue: JobQueue,
) -> None:
    relay = StreamRelay(queue, block_ms=LONG_BLOCK_MS, buffer_events=8)
    try:
        for i in range(20):
            await delta(queue, "g", str(i))
        sub = await relay.subscribe({"g": "0-0"})  # a resume: 20 entries in one read
        assert await texts(sub) == [str(i) for i in range(20)]
        assert not sub.lagging and relay.subscriptions == 1
    finally:
        await relay.close()
