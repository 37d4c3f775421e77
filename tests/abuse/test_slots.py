"""In-flight generation slots: capped, released, and self-healing after a crash."""

from __future__ import annotations

import asyncio

import pytest

from app.abuse import RateLimitRules, SlotUnavailable, ip_identity, visitor_identity
from tests.abuse.conftest import REDIS_URL, MakeLimiter

ALICE = visitor_identity("alice")


async def test_slots_are_capped_and_released(make_limiter: MakeLimiter) -> None:
    limiter = await make_limiter(RateLimitRules(concurrent_generations=2))
    first, second = await limiter.acquire_slot(ALICE), await limiter.acquire_slot(ALICE)
    assert first and second and first != second
    assert await limiter.acquire_slot(ALICE) is None
    assert await limiter.in_flight(ALICE) == 2
    await limiter.release_slot(ALICE, first)
    assert await limiter.in_flight(ALICE) == 1
    assert await limiter.acquire_slot(ALICE) is not None


async def test_release_is_idempotent(make_limiter: MakeLimiter) -> None:
    limiter = await make_limiter(RateLimitRules(concurrent_generations=1))
    token = await limiter.acquire_slot(ALICE)
    assert token
    await limiter.release_slot(ALICE, token)
    await limiter.release_slot(ALICE, token)
    await limiter.release_slot(ALICE, "not-a-token")
    assert await limiter.in_flight(ALICE) == 0
    assert await limiter.acquire_slot(ALICE) is not None


async def test_ip_gets_factor_times_the_slots(make_limiter: MakeLimiter) -> None:
    limiter = await make_limiter(RateLimitRules(concurrent_generations=1, ip_factor=3))
    office = ip_identity("c0ffee")
    tokens = [await limiter.acquire_slot(office) for _ in range(4)]
    assert [t is not None for t in tokens] == [True, True, True, False]


async def test_concurrent_acquires_respect_the_cap(make_limiter: MakeLimiter) -> None:
    limiter = await make_limiter(RateLimitRules(concurrent_generations=2))
    tokens = await asyncio.gather(*[limiter.acquire_slot(ALICE) for _ in range(10)])
    assert sum(t is not None for t in tokens) == 2


async def test_crashed_holder_slot_expires(make_limiter: MakeLimiter, storage_kind: str) -> None:
    limiter = await make_limiter(RateLimitRules(concurrent_generations=2, slot_ttl_seconds=0.5))
    assert await limiter.acquire_slot(ALICE)
    assert await limiter.acquire_slot(ALICE)
    assert await limiter.acquire_slot(ALICE) is None
    # The holders "crash": nobody releases. After the TTL the slots are free again.
    await asyncio.sleep(0.7)
    assert await limiter.in_flight(ALICE) == 0
    assert await limiter.acquire_slot(ALICE) is not None
    if storage_kind == "redis":
        from redis.asyncio import Redis

        client = Redis.from_url(REDIS_URL)
        try:
            ttl_ms = await client.pttl(f"{limiter.key_prefix}slots:{ALICE}")
        finally:
            await client.aclose()
        assert 0 < ttl_ms <= 500  # the key itself cannot outlive its last slot


async def test_stale_slot_does_not_hold_back_a_busy_visitor(make_limiter: MakeLimiter) -> None:
    """A key-wide TTL refreshed by new traffic would leak; per-slot expiry does not."""
    limiter = await make_limiter(RateLimitRules(concurrent_generations=2, slot_ttl_seconds=0.6))
    assert await limiter.acquire_slot(ALICE)  # leaked
    await asyncio.sleep(0.35)
    busy = await limiter.acquire_slot(ALICE)  # keeps the key alive
    assert busy
    await asyncio.sleep(0.35)  # the leaked slot is now stale, the busy one is not
    assert await limiter.in_flight(ALICE) == 1
    assert await limiter.acquire_slot(ALICE) is not None


async def test_context_manager_releases_even_on_error(make_limiter: MakeLimiter) -> None:
    limiter = await make_limiter(RateLimitRules(concurrent_generations=1))
    office = ip_identity("beef")
    with pytest.raises(RuntimeError):
        async with limiter.generation_slot(ALICE, office):
            assert await limiter.in_flight(ALICE) == 1
            raise RuntimeError("generation failed")
    assert await limiter.in_flight(ALICE) == 0
    assert await limiter.in_flight(office) == 0


async def test_context_manager_refuses_when_full_and_keeps_nothing(
    make_limiter: MakeLimiter,
) -> None:
    limiter = await make_limiter(RateLimitRules(concurrent_generations=1, ip_factor=1))
    office = ip_identity("beef")
    assert await limiter.acquire_slot(office)  # the IP is full, the visitor is not
    with pytest.raises(SlotUnavailable, match="per ip"):
        async with limiter.generation_slot(ALICE, office):
            pytest.fail("must not enter")
    assert await limiter.in_flight(ALICE) == 0
