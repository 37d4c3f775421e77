"""Counters of in-flight generations per identity, which heal after a crash.

A plain INCR/DECR counter leaks forever when a process dies between the two, and a TTL on
the counter key never fires while traffic keeps refreshing it. Each slot is therefore its
own entry with its own expiry: Redis keeps a sorted set of slot tokens scored by expiry
time, and every acquire first drops expired tokens. A crashed holder's slot frees itself
after `ttl_seconds`; the whole key also expires once every slot in it is stale.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Protocol

from redis.asyncio import Redis


class SlotStore(Protocol):
    async def acquire(self, identity: str, limit: int, ttl_seconds: float) -> str | None: ...

    async def release(self, identity: str, token: str) -> None: ...

    async def in_flight(self, identity: str) -> int: ...

    async def close(self) -> None: ...


# KEYS[1] slot set; ARGV: ttl_ms, limit, token. Uses the server clock so that web and
# worker processes on different hosts agree on expiry.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
"""

_COUNT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
"""


class RedisSlots:
    """Slots shared by every web and worker process using the same Redis."""

    def __init__(self, client: Redis, key_prefix: str) -> None:
        self._redis = client
        self._prefix = key_prefix
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._count = self._redis.register_script(_COUNT)

    def _key(self, identity: str) -> str:
        return f"{self._prefix}slots:{identity}"

    async def acquire(self, identity: str, limit: int, ttl_seconds: float) -> str | None:
        token = uuid.uuid4().hex
        ttl_ms = max(1, int(ttl_seconds * 1000))
        ok = await self._acquire(keys=[self._key(identity)], args=[ttl_ms, limit, token])
        return token if ok == 1 else None

    async def release(self, identity: str, token: str) -> None:
        await self._redis.zrem(self._key(identity), token)

    async def in_flight(self, identity: str) -> int:
        return int(await self._count(keys=[self._key(identity)]))

    async def close(self) -> None:
        await self._redis.aclose(close_connection_pool=True)


class MemorySlots:
    """Slots for the single-process embedded default."""

    def __init__(self) -> None:
        self._slots: dict[str, dict[str, float]] = {}
        self._lock = asyncio.Lock()

    def _live(self, identity: str) -> dict[str, float]:
        now = time.monotonic()
        slots = {t: exp for t, exp in self._slots.get(identity, {}).items() if exp > now}
        if slots:
            self._slots[identity] = slots
        else:
            self._slots.pop(identity, None)
        return slots

    async def acquire(self, identity: str, limit: int, ttl_seconds: float) -> str | None:
        async with self._lock:
            slots = self._live(identity)
            if len(slots) >= limit:
                return None
            token = uuid.uuid4().hex
            slots[token] = time.monotonic() + ttl_seconds
            self._slots[identity] = slots
            return token

    async def release(self, identity: str, token: str) -> None:
        async with self._lock:
            self._live(identity).pop(token, None)
            self._live(identity)  # drop the identity when it has no slots left

    async def in_flight(self, identity: str) -> int:
        async with self._lock:
            return len(self._live(identity))

    async def close(self) -> None:
        self._slots.clear()
