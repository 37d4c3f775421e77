"""A limiter factory for each storage: process memory and the real Redis at 127.0.0.1.

Redis keys use a random prefix per test and are deleted afterwards. Without Redis the
Redis cases are skipped locally, but fail under CI=true (CI must test the real thing).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.abuse.rate_limits import RateLimiter, RateLimitRules

REDIS_URL = "redis://127.0.0.1:6379/0"
MakeLimiter = Callable[[RateLimitRules], Awaitable[RateLimiter]]


async def _redis_or_skip() -> Redis:
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except (OSError, RedisConnectionError, RedisTimeoutError) as exc:
        await client.aclose()
        message = (
            f"Redis at {REDIS_URL} is unreachable ({exc}); start it with "
            "`redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ''`"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return client


@pytest.fixture(params=["memory", "redis"])
def storage_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_limiter(storage_kind: str) -> AsyncIterator[MakeLimiter]:
    """Builds limiters on one storage; all share this test's random key prefix."""
    prefix = f"test_abuse_{uuid.uuid4().hex[:12]}:"
    admin = await _redis_or_skip() if storage_kind == "redis" else None
    uri = "memory://" if admin is None else REDIS_URL
    made: list[RateLimiter] = []

    async def make(rules: RateLimitRules) -> RateLimiter:
        limiter = RateLimiter(uri, rules, key_prefix=prefix)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        await limiter.close()
    if admin is not None:
        keys = [key async for key in admin.scan_iter(match=f"{prefix}*")]
        if keys:
            await admin.delete(*keys)
        assert not [key async for key in admin.scan_iter(match=f"{prefix}*")]
        await admin.aclose()
