"""Both queue adapters keep the same promises: at-least-once jobs with leases, replayable
event streams that resume from a cursor, and heartbeats that expire."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.queue import JobQueue, WorkerInfo
from app.queue.memory_queue import MemoryQueue
from app.queue.redis_queue import RedisQueue

LEASE_MS = 300


@pytest.fixture(params=["memory", "redis"])
async def queue(request: pytest.FixtureRequest) -> AsyncIterator[JobQueue]:
    if request.param == "memory":
        q: JobQueue = MemoryQueue(lease_ms=LEASE_MS)
        yield q
        return
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix") + f"q{uuid.uuid4().hex[:6]}:"
    q = RedisQueue(url, prefix=prefix, lease_ms=LEASE_MS)
    yield q
    await q.close()


async def test_each_job_goes_to_one_worker_until_its_lease_runs_out(queue: JobQueue) -> None:
    await queue.enqueue("m", "g1")
    await queue.enqueue("m", "g2")
    first = await queue.claim("m", "w1", 1, 10)
    second = await queue.claim("m", "w2", 5, 10)
    assert [j.generation_id for j in first] == ["g1"]
    assert [j.generation_id for j in second] == ["g2"]
    assert await queue.claim("m", "w3", 5, 10) == []
    assert await queue.depth("m") == 2

    # w2 keeps renewing its lease; w1 went silent.
    for _ in range(4):
        await asyncio.sleep(LEASE_MS / 1000 / 3)
        await queue.extend("m", "w2", [second[0].message_id])
    stolen = await queue.claim("m", "w3", 5, 10)
    assert [(j.generation_id, j.reclaimed) for j in stolen] == [("g1", True)]

    await queue.ack("m", stolen[0].message_id)
    await queue.ack("m", second[0].message_id)
    assert await queue.depth("m") == 0
    await asyncio.sleep(LEASE_MS / 1000 * 1.5)
    assert await queue.claim("m", "w4", 5, 10) == []  # acked jobs never come back


async def test_blocking_claim_wakes_up_for_a_new_job(queue: JobQueue) -> None:
    waiter = asyncio.create_task(queue.claim("m2", "w1", 1, 3000))
    await asyncio.sleep(0.1)
    await queue.enqueue("m2", "g-late")
    jobs = await asyncio.wait_for(waiter, 2)
    assert [j.generation_id for j in jobs] == ["g-late"]


async def test_event_stream_resumes_from_any_cursor(queue: JobQueue) -> None:
    ids = [await queue.publish("gen-x", {"type": "delta", "text": t}) for t in "abcde"]
    everything = await queue.read({"gen-x": "0-0"}, 10)
    assert "".join(e.data["text"] for e in everything) == "abcde"
    assert [e.id for e in everything] == ids
    rest = await queue.read({"gen-x": ids[1]}, 10)
    assert "".join(e.data["text"] for e in rest) == "cde"
    assert await queue.read({"gen-x": ids[-1]}, 10) == []


async def test_blocking_read_wakes_for_either_stream(queue: JobQueue) -> None:
    reader = asyncio.create_task(queue.read({"ga": "0-0", "gb": "0-0"}, 3000))
    await asyncio.sleep(0.1)
    await queue.publish("gb", {"type": "done"})
    events = await asyncio.wait_for(reader, 2)
    assert [(e.generation_id, e.data["type"]) for e in events] == [("gb", "done")]


async def test_heartbeats_expire(queue: JobQueue) -> None:
    await queue.heartbeat(WorkerInfo("w1", "hb", in_flight=3, tokens_per_s=12.5), 0.3)
    await queue.heartbeat(WorkerInfo("w2", "hb"), 5)
    live = {w.worker_id: w for w in await queue.live_workers("hb")}
    assert set(live) == {"w1", "w2"} and live["w1"].tokens_per_s == 12.5
    await asyncio.sleep(0.5)
    assert [w.worker_id for w in await queue.live_workers("hb")] == ["w2"]
    await queue.remove_worker("hb", "w2")
    assert await queue.live_workers("hb") == []


async def test_publish_many_appends_to_each_stream_in_order(queue: JobQueue) -> None:
    await queue.publish("p1", {"type": "delta", "text": "a"})
    await queue.publish_many([("p1", {"type": "delta", "text": "b"}),
                              ("p2", {"type": "delta", "text": "x"}),
                              ("p1", {"type": "done"})])
    events = await queue.read({"p1": "0-0", "p2": "0-0"}, 10)
    p1 = [e.data.get("text", e.data["type"]) for e in events if e.generation_id == "p1"]
    assert p1 == ["a", "b", "done"]
    assert [e.data["text"] for e in events if e.generation_id == "p2"] == ["x"]


async def test_delta_batcher_publishes_everything_before_flush_returns(queue: JobQueue) -> None:
    from workers.worker import DeltaBatcher

    batcher = DeltaBatcher(queue)
    for i in range(200):
        batcher.push(f"s{i % 3}", 1, f"{i},")
        if i % 7 == 0:
            await asyncio.sleep(0)
    await batcher.flush()
    events = await queue.read({f"s{k}": "0-0" for k in range(3)}, 10)
    for k in range(3):
        text = "".join(e.data["text"] for e in events if e.generation_id == f"s{k}")
        assert text == "".join(f"{i}," for i in range(200) if i % 3 == k)
    assert len(events) < 200  # deltas were coalesced into fewer writes
    assert {e.data["attempt"] for e in events} == {1}  # every delta names its attempt


async def test_extend_renews_only_the_leases_a_worker_still_holds(queue: JobQueue) -> None:
    """A worker that stalled past its lease must not take back a reclaimed job."""
    await queue.enqueue("mx", "gx")
    [job] = await queue.claim("mx", "w1", 1, 10)
    assert await queue.extend("mx", "w1", [job.message_id]) == []
    await asyncio.sleep(LEASE_MS / 1000 * 1.5)  # w1 stalls past its lease
    [stolen] = await queue.claim("mx", "w2", 1, 10)
    assert stolen.generation_id == "gx" and stolen.reclaimed
    assert await queue.extend("mx", "w1", [job.message_id]) == [job.message_id]  # lost
    assert await queue.extend("mx", "w2", [stolen.message_id]) == []
    await asyncio.sleep(LEASE_MS / 1000 * 0.7)
    await queue.extend("mx", "w2", [stolen.message_id])
    await asyncio.sleep(LEASE_MS / 1000 * 0.7)
    assert await queue.claim("mx", "w1", 1, 10) == []  # w2 kept it: nothing to reclaim


async def test_held_lists_waiting_and_running_jobs_until_acked(queue: JobQueue) -> None:
    assert await queue.held("mh") == set()
    await queue.enqueue("mh", "g1")
    await queue.enqueue("mh", "g2")
    [job] = await queue.claim("mh", "w1", 1, 10)
    assert await queue.held("mh") == {"g1", "g2"}
    await queue.ack("mh", job.message_id)
    assert await queue.held("mh") == {"g2"}


async def test_try_lock_is_exclusive_until_it_expires(queue: JobQueue) -> None:
    name = f"sweep:{uuid.uuid4().hex[:6]}"
    assert await queue.try_lock(name, 200)
    assert not await queue.try_lock(name, 200)
    await asyncio.sleep(0.3)
    assert await queue.try_lock(name, 200)


async def test_redis_queue_recovers_its_group_after_redis_lost_everything(
    redis_url: str, redis_prefix: str
) -> None:
    """Redis restarted without data: the consumer group is gone; claims must not fail
    with NOGROUP from then on."""
    q = RedisQueue(redis_url, prefix=redis_prefix + f"ng{uuid.uuid4().hex[:6]}:",
                   lease_ms=LEASE_MS)
    try:
        await q.enqueue("m", "before")
        assert [j.generation_id for j in await q.claim("m", "w", 5, 10)] == ["before"]
        await q.redis.delete(q._jobs("m"))  # what a restart without persistence leaves
        assert await q.claim("m", "w", 5, 10) == []
        await q.enqueue("m", "after")
        assert [j.generation_id for j in await q.claim("m", "w", 5, 10)] == ["after"]
        assert await q.extend("m", "w", ["0-1"]) == ["0-1"]
    finally:
        await q.close()


async def test_a_delivery_that_arrives_after_its_lease_ran_out_is_not_run(
        redis_url: str, redis_prefix: str) -> None:
    """A worker stopped inside its blocking read still gets the reply when it wakes up,
    after another worker reclaimed the job: it must not run it too (the SIGTERM fault test
    saw such a worker supersede the answer being streamed)."""
    prefix = redis_prefix + f"q{uuid.uuid4().hex[:6]}:"
    stopped = RedisQueue(redis_url, prefix=prefix, lease_ms=LEASE_MS)
    other = RedisQueue(redis_url, prefix=prefix, lease_ms=LEASE_MS)
    try:
        await stopped.enqueue("m", "g1")
        real_read = stopped.claimer.xreadgroup
        reclaimed = []

        async def read_then_stop(*args, **kwargs):  # type: ignore[no-untyped-def]
            reply = await real_read(*args, **kwargs)  # Redis gave the job to "w1" ...
            await asyncio.sleep(LEASE_MS / 1000 * 1.5)  # ... which is stopped meanwhile
            reclaimed.extend(await other.claim("m", "w2", 1, 10))
            return reply

        stopped.claimer.xreadgroup = read_then_stop  # type: ignore[method-assign]
        assert await stopped.claim("m", "w1", 1, 10) == []
        assert [(j.generation_id, j.reclaimed) for j in reclaimed] == [("g1", True)]
        assert await other.extend("m", "w2", [reclaimed[0].message_id]) == []

        stopped.claimer.xreadgroup = real_read  # type: ignore[method-assign]
        await stopped.enqueue("m", "g2")  # a delivery in time is the worker's own
        assert [j.generation_id for j in await stopped.claim("m", "w1", 1, 10)] == ["g2"]
    finally:
        await stopped.close()
        await other.close()


async def test_a_delivery_read_from_before_a_restart_and_depth_after_it(
        redis_url: str, redis_prefix: str) -> None:
    """A stopped worker reads a reply Redis wrote before it restarted empty: the claim
    neither fails (NOGROUP) nor runs the jobs, and the next claim works. The web tier's
    depth, whose group cache says the stream exists, reports 0 instead of failing
    battle creation with 'no such key' (the Redis restart fault test's 500s)."""
    q = RedisQueue(redis_url, prefix=redis_prefix + f"rs{uuid.uuid4().hex[:6]}:",
                   lease_ms=LEASE_MS)
    web = RedisQueue(redis_url, prefix=q.prefix, lease_ms=LEASE_MS)
    try:
        await q.enqueue("m", "g1")
        assert await web.depth("m") == 1
        real_read = q.claimer.xreadgroup

        async def read_then_restart(*args, **kwargs):  # type: ignore[no-untyped-def]
            reply = await real_read(*args, **kwargs)
            await q.redis.delete(q._jobs("m"))  # what a restart without persistence leaves
            return reply

        q.claimer.xreadgroup = read_then_restart  # type: ignore[method-assign]
        assert await q.claim("m", "w1", 1, 10) == []
        q.claimer.xreadgroup = real_read  # type: ignore[method-assign]
        assert await web.depth("m") == 0
        await web.enqueue("m", "g2")
        assert await web.depth("m") == 1
        assert [j.generation_id for j in await q.claim("m", "w1", 1, 10)] == ["g2"]
    finally:
        await q.close()
        await web.close()


@pytest.mark.parametrize("error", [RedisTimeoutError, RedisConnectionError])
async def test_a_claim_whose_reply_was_lost_takes_its_jobs_back_at_once(
        redis_url: str, redis_prefix: str, error: type[Exception]) -> None:
    """Redis handed the job to a read whose reply never arrived (redis-py's 5 s socket
    timeout during a stall, a dropped connection): the job is in this consumer's pending
    list. The claim takes it back at once, and if even that fails, the next claim does,
    instead of leaving it unseen until its lease runs out (bench_relay found such a job
    waiting 10 minutes). The read itself is never retried: a retry would hide the loss."""
    q = RedisQueue(redis_url, prefix=redis_prefix + f"lr{uuid.uuid4().hex[:6]}:",
                   lease_ms=60_000)
    try:
        assert q.claimer.get_retry()._retries == 0  # type: ignore[union-attr]
        await q.enqueue("m", "g1")
        real_read, real_pending = q.claimer.xreadgroup, q._own_pending

        async def read_then_lose(*args, **kwargs):  # type: ignore[no-untyped-def]
            await real_read(*args, **kwargs)  # Redis delivered g1 to this consumer ...
            raise error("the reply was lost")  # ... and the client never saw it

        async def pending_fails_once(*args, **kwargs):  # type: ignore[no-untyped-def]
            q._own_pending = real_pending  # type: ignore[method-assign]
            raise RedisConnectionError("Redis is away")

        q.claimer.xreadgroup = read_then_lose  # type: ignore[method-assign]
        got = await q.claim("m", "w1", 5, 10)
        assert [(j.generation_id, j.reclaimed) for j in got] == [("g1", True)]

        await q.enqueue("m", "g2")
        q._own_pending = pending_fails_once  # type: ignore[method-assign]
        with pytest.raises(RedisConnectionError):
            await q.claim("m", "w1", 5, 10)  # the worker logs it and claims again
        q.claimer.xreadgroup = real_read  # type: ignore[method-assign]
        again = await q.claim("m", "w1", 5, 10)
        assert sorted(j.generation_id for j in again) == ["g1", "g2"]  # g1: still running
    finally:
        await q.close()
