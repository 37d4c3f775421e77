"""Redis Streams adapter: `jobs:{model}` with group `workers`, `gen:{id}` event streams."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.queue.base import LANES, ClaimedJob, QueueEvent, WorkerInfo

GROUP = "workers"
T = TypeVar("T")

# Append one event to each of several `gen:` streams (the worker's batched deltas).
# KEYS: the streams; ARGV[1]: their approximate max length; ARGV[i + 1]: KEYS[i]'s event.
_PUBLISH_MANY = """
for i = 1, #KEYS do
  redis.call('XADD', KEYS[i], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[i + 1])
end
return #KEYS
"""

# Renew only the leases this consumer still holds: a worker that stalled past its lease
# must not take back a job that another worker reclaimed (it would generate it twice).
# KEYS[1] job stream; ARGV: group, consumer, ids... Returns the ids no longer held.
_EXTEND = """
local lost = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    table.insert(lost, ARGV[i])
  end
end
return lost
"""


def connect(
    url: str, *, decode_responses: bool = True, client_name: str | None = None,
    single: bool = False, retries: int = 4,
) -> aioredis.Redis:
    """A client that survives a Redis restart: stale pooled connections are health-checked
    and a command that hits a dropped connection is retried on a fresh one (the pool's
    connections carry these settings, so a library given only the pool gets them too).
    A retried write may land twice; everything written through it tolerates that (job
    deliveries are fenced by attempt, deltas carry sequence numbers). `single`: exactly
    one connection, commands wait their turn (the relay's own connections). `retries=0`:
    nothing is retried, for a read whose lost reply must be noticed (a worker's claim)."""
    options: dict[str, Any] = dict(
        decode_responses=decode_responses,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=retries),
        retry_on_error=[RedisConnectionError],
        health_check_interval=5,
        socket_connect_timeout=5,
        socket_keepalive=True,
        client_name=client_name,  # who is who in CLIENT LIST
    )
    if single:
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=1, timeout=None, **options)
        return aioredis.Redis(connection_pool=pool)
    return aioredis.from_url(url, **options)


def _unparsed(response: Any, **_: Any) -> Any:
    """XREAD's reply as the protocol parser gave it. redis-py's own callback turns every
    entry's fields into a dict in Python, which at a thousand streams was a third of the
    relay's CPU; `_raw_stream_events` reads the one field the arena writes instead."""
    return response


def _raw_streams(reply: Any) -> list[tuple[str, list]]:
    """(stream, entries) of an unparsed XREAD reply: a map in RESP3, pairs in RESP2."""
    if not reply:
        return []
    return list(reply.items()) if isinstance(reply, dict) else [(s, m) for s, m in reply]


def _raw_stream_events(streams: list[tuple[str, list]], cut: int) -> list[QueueEvent]:
    """Events of unparsed entries (`[id, [field, value, ...]]`; the arena writes one field,
    "e", the event as JSON)."""
    events: list[QueueEvent] = []
    for stream, messages in streams:
        generation_id = stream[cut:]
        for message_id, fields in messages:
            value = fields[1] if fields[0] == "e" else fields[fields.index("e") + 1]
            events.append(QueueEvent(generation_id, message_id, json.loads(value)))
    return events


class RedisStreamReader:
    """Reads many `gen:` streams for one process's relay on two connections of its own,
    however many clients it serves: one for the blocking XREAD, one for the rest (wakes,
    catch-up reads), where commands wait their turn.

    A wake is an entry on a small stream of this reader's own that every blocking read
    includes: it ends a blocked XREAD at once and, since the reader keeps that stream's
    cursor, a wake sent just before a read starts is not lost either. Wakes sent during
    one read are one XADD."""

    def __init__(self, queue: RedisQueue) -> None:
        self.queue = queue
        self.redis = connect(queue.url, client_name=queue.client_name, single=True)
        self.control = connect(queue.url, client_name=queue.client_name, single=True)
        for client in (self.redis, self.control):  # clients of this reader's own
            client.set_response_callback("XREAD", _unparsed)
        self._wake_key = f"{queue.prefix}relay-wake:{uuid.uuid4().hex}"
        self._wake_cursor = "0-0"
        self._wake_pending = False
        self._cut = len(queue.prefix) + len("gen:")

    async def read(self, cursors: dict[str, str], block_ms: int) -> list[QueueEvent]:
        streams = {self.queue._gen(g): c or "0-0" for g, c in cursors.items()}
        streams[self._wake_key] = self._wake_cursor
        try:
            reply = await self.redis.xread(streams, block=block_ms or None, count=512)
        except RedisTimeoutError:
            return []
        self._wake_pending = False
        data = []
        for stream, messages in _raw_streams(reply):
            if stream == self._wake_key:
                self._wake_cursor = messages[-1][0]
            else:
                data.append((stream, messages))
        return _raw_stream_events(data, self._cut)

    async def read_now(self, cursors: dict[str, str]) -> list[QueueEvent]:
        """What these streams hold after these cursors (no blocking)."""
        if not cursors:
            return []
        streams = {self.queue._gen(g): c or "0-0" for g, c in cursors.items()}
        reply = await self.control.xread(streams, count=512)
        return _raw_stream_events(_raw_streams(reply), self._cut)

    async def wake(self) -> None:
        if self._wake_pending:
            return
        self._wake_pending = True
        pipe = self.control.pipeline(transaction=False)
        pipe.xadd(self._wake_key, {"w": "1"}, maxlen=1)
        pipe.expire(self._wake_key, 3600)
        try:
            await pipe.execute()
        except BaseException:
            self._wake_pending = False  # not sent: the next wake must try again
            raise

    async def close(self) -> None:
        # A read cancelled mid-XREAD may leave its reply pending on its connection: drop
        # that connection rather than send anything after it.
        try:
            await self.redis.aclose()
            await self.redis.connection_pool.disconnect()
            await self.control.delete(self._wake_key)
        finally:
            await self.control.aclose()
            await self.control.connection_pool.disconnect()


class RedisQueue:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "arena:",
        lease_ms: int = 15_000,
        stream_maxlen: int = 20_000,
        stream_ttl_s: int = 86_400,
        client_name: str | None = None,
    ) -> None:
        self.url = url
        self.client_name = client_name
        self.redis = connect(url, client_name=client_name)
        self.prefix = prefix
        self.lease_ms = lease_ms
        self.stream_maxlen = stream_maxlen
        self.stream_ttl_s = stream_ttl_s
        self._groups: set[str] = set()
        self.redis.set_response_callback("XREAD", _unparsed)  # read by _raw_stream_events
        self._extend = self.redis.register_script(_EXTEND)
        self._publish_script = self.redis.register_script(_PUBLISH_MANY)
        # Claims read on a client of their own that retries nothing: redis-py retries a
        # timed-out command by default (its socket timeout is 5 s), and a retried
        # XREADGROUP loses the first reply's jobs, which then sit in this consumer's
        # pending list, unseen, until their lease runs out (found by bench_relay: a worker
        # held for 5 s during battle creation). A failed read marks the lane, and the next
        # claim first takes back this consumer's pending jobs.
        self.claimer = connect(url, client_name=client_name, retries=0)  # connects on use
        self._unseen: set[str] = set()  # lanes whose last read failed

    def _jobs(self, model: str, lane: str = "live") -> str:
        if lane not in LANES:
            raise ValueError(f"unknown lane {lane!r}")
        return f"{self.prefix}{'jobs' if lane == 'live' else 'batch'}:{model}"

    def _gen(self, generation_id: str) -> str:
        return f"{self.prefix}gen:{generation_id}"

    async def _ensure_group(self, model: str, lane: str = "live") -> None:
        key = self._jobs(model, lane)
        if key in self._groups:
            return
        try:
            await self.redis.xgroup_create(key, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add(key)

    async def _grouped(
        self, model: str, call: Callable[[], Awaitable[T]], lane: str = "live"
    ) -> T:
        """Run `call` with the consumer group in place. Redis restarted without its data
        loses the group; recreate it once instead of failing every claim from then on."""
        await self._ensure_group(model, lane)
        try:
            return await call()
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self._groups.discard(self._jobs(model, lane))
            await self._ensure_group(model, lane)
            return await call()

    async def enqueue(
        self, model: str, generation_id: str, *, lane: str = "live", kind: str = "generation"
    ) -> str:
        await self._ensure_group(model, lane)
        return await self.redis.xadd(
            self._jobs(model, lane), {"generation_id": generation_id, "kind": kind}
        )

    def _job(
        self, model: str, lane: str, message_id: str, fields: dict, reclaimed: bool = False
    ) -> ClaimedJob:
        return ClaimedJob(model, message_id, fields["generation_id"], reclaimed,
                          fields.get("kind", "generation"), lane)

    async def claim(
        self, model: str, consumer: str, count: int, block_ms: int, *, lane: str = "live"
    ) -> list[ClaimedJob]:
        """Reclaim jobs whose lease ran out (their worker died) before taking new ones."""
        key = self._jobs(model, lane)
        jobs: list[ClaimedJob] = []
        _next, stale, _deleted = await self._grouped(model, lambda: self.redis.xautoclaim(
            key, GROUP, consumer, min_idle_time=self.lease_ms, start_id="0-0", count=count
        ), lane)
        for message_id, fields in stale:
            if fields:
                jobs.append(self._job(model, lane, message_id, fields, True))
        if len(jobs) >= count:
            return jobs
        if key in self._unseen:
            jobs += await self._take_back(model, consumer, count, lane)
            if jobs:
                return jobs
        try:
            reply = await self.claimer.xreadgroup(
                GROUP, consumer, {key: ">"}, count=count - len(jobs), block=block_ms or None
            )
        except (RedisTimeoutError, RedisConnectionError):
            # The reply was lost (a stalled or paused process, a dropped connection): Redis
            # may have handed us jobs that we never saw. Take back our own pending jobs now
            # rather than after a lease; the worker skips the ones it is already running.
            self._unseen.add(key)
            return jobs + await self._take_back(model, consumer, count, lane)
        fresh = [(mid, fields) for _stream, messages in reply or [] for mid, fields in messages]
        if fresh:
            owned = await self._owned(key, consumer, [mid for mid, _ in fresh])
            jobs += [self._job(model, lane, mid, fields) for mid, fields in fresh
                     if str(mid) in owned]
        return jobs

    async def _owned(self, key: str, consumer: str, ids: list[str]) -> set[str]:
        """Which of these deliveries are still ours. A worker stopped (SIGSTOP, a long GC
        or swap stall) inside a blocking XREADGROUP still gets its reply later, though the
        job's lease ran out meanwhile and another worker reclaimed it: running it too
        would supersede the answer that worker is streaming."""
        order = sorted(ids, key=lambda m: tuple(int(p) for p in str(m).split("-")))
        try:
            pending = await self.redis.xpending_range(
                key, GROUP, min=order[0], max=order[-1], count=len(ids) + 1024,
                consumername=consumer)
        except ResponseError as exc:
            # The reply was read from before a Redis restart that lost the group: none of
            # these deliveries exist any more (the sweeper recovers their generations), and
            # the next claim recreates the group.
            if "NOGROUP" not in str(exc):
                raise
            self._groups.discard(key)
            return set()
        return {str(p["message_id"]) for p in pending}

    async def _take_back(
        self, model: str, consumer: str, count: int, lane: str
    ) -> list[ClaimedJob]:
        """This consumer's pending jobs, after a read whose reply may have been lost; the
        lane stays marked until this succeeds."""
        jobs = await self._grouped(
            model, lambda: self._own_pending(model, consumer, count, lane), lane)
        self._unseen.discard(self._jobs(model, lane))
        return jobs

    async def _own_pending(
        self, model: str, consumer: str, count: int, lane: str
    ) -> list[ClaimedJob]:
        key = self._jobs(model, lane)
        pending = await self.redis.xpending_range(
            key, GROUP, min="-", max="+", count=count + 1024, consumername=consumer
        )
        ids = [p["message_id"] for p in pending]
        if not ids:
            return []
        claimed = await self.redis.xclaim(key, GROUP, consumer, 0, ids)
        return [
            self._job(model, lane, message_id, fields, True)
            for message_id, fields in claimed
            if fields
        ]

    async def extend(
        self, model: str, consumer: str, message_ids: list[str], *, lane: str = "live"
    ) -> list[str]:
        if not message_ids:
            return []
        lost = await self._grouped(model, lambda: self._extend(
            keys=[self._jobs(model, lane)], args=[GROUP, consumer, *message_ids]
        ), lane)
        return list(lost or [])

    async def ack(self, model: str, message_id: str, *, lane: str = "live") -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.xack(self._jobs(model, lane), GROUP, message_id)
        pipe.xdel(self._jobs(model, lane), message_id)
        await pipe.execute()

    async def dead_letter(self, model: str, generation_id: str, reason: str) -> None:
        await self.redis.xadd(
            f"{self.prefix}dead:{model}",
            {"generation_id": generation_id, "reason": reason[:2000], "at": str(time.time())},
            maxlen=10_000,
            approximate=True,
        )

    async def depth(self, model: str, *, lane: str = "live") -> int:
        """Jobs waiting plus jobs in flight."""
        key = self._jobs(model, lane)
        await self._ensure_group(model, lane)
        try:
            groups = await self.redis.xinfo_groups(key)
        except ResponseError as exc:
            if "no such key" not in str(exc).lower():
                raise
            groups = []  # Redis restarted empty: nothing waits, whether or not a worker is back
        for group in groups:
            if group["name"] == GROUP:
                return int(group.get("lag") or 0) + int(group.get("pending") or 0)
        self._groups.discard(key)  # the group was lost (Redis restarted)
        return 0

    async def held(self, model: str, *, lane: str = "live") -> set[str]:
        # Acked jobs are deleted (ack), so every entry left is waiting or in flight.
        ids: set[str] = set()
        start = "-"
        while True:
            batch = await self.redis.xrange(self._jobs(model, lane), min=start, count=1000)
            ids.update(fields["generation_id"] for _, fields in batch if fields)
            if len(batch) < 1000:
                return ids
            start = "(" + batch[-1][0]

    async def try_lock(self, name: str, ttl_ms: int) -> bool:
        return bool(await self.redis.set(f"{self.prefix}lock:{name}", "1", nx=True, px=ttl_ms))

    async def publish(self, generation_id: str, data: dict[str, Any]) -> str:
        return await self.redis.xadd(
            self._gen(generation_id),
            {"e": json.dumps(data, separators=(",", ":"))},
            maxlen=self.stream_maxlen,
            approximate=True,
        )

    async def publish_many(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Several streams' events in one command (a script: one reply to parse, not one
        per entry as a pipeline of XADDs has; at a thousand streams those replies were
        most of a worker's CPU). Like any retried write, it may land twice."""
        if not events:
            return
        await self._publish_script(
            keys=[self._gen(gid) for gid, _ in events],
            args=[self.stream_maxlen,
                  *(json.dumps(data, separators=(",", ":")) for _, data in events)],
        )

    async def finish_stream(self, generation_id: str) -> None:
        await self.redis.expire(self._gen(generation_id), self.stream_ttl_s)

    async def read(self, cursors: dict[str, str], block_ms: int) -> list[QueueEvent]:
        if not cursors:
            return []
        streams = {self._gen(g): c or "0-0" for g, c in cursors.items()}
        try:
            reply = await self.redis.xread(streams, block=block_ms or None, count=512)
        except RedisTimeoutError:
            return []
        return _raw_stream_events(_raw_streams(reply), len(self.prefix) + len("gen:"))

    def stream_reader(self) -> RedisStreamReader:
        return RedisStreamReader(self)

    async def heartbeat(self, info: WorkerInfo, ttl_s: float) -> None:
        now = time.time()
        index = f"{self.prefix}workers:{info.model}"
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(f"{index}:{info.worker_id}", json.dumps(asdict(info)), px=int(ttl_s * 1000))
        pipe.zadd(index, {info.worker_id: now + ttl_s})
        pipe.zremrangebyscore(index, "-inf", now)
        await pipe.execute()

    async def remove_worker(self, model: str, worker_id: str) -> None:
        index = f"{self.prefix}workers:{model}"
        await self.redis.delete(f"{index}:{worker_id}")
        await self.redis.zrem(index, worker_id)

    async def live_workers(self, model: str) -> list[WorkerInfo]:
        index = f"{self.prefix}workers:{model}"
        ids = await self.redis.zrangebyscore(index, time.time(), "+inf")
        if not ids:
            return []
        raw = await self.redis.mget([f"{index}:{i}" for i in ids])
        return [WorkerInfo(**json.loads(r)) for r in raw if r]

    async def close(self) -> None:
        await self.claimer.aclose()
        await self.redis.aclose()
