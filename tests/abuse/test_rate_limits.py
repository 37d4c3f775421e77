"""Rate limits per visitor and per IP hash, on process memory and on the real Redis."""

from __future__ import annotations

import asyncio

import pytest

from app.abuse.rate_limits import RateLimitRules, ip_identity, visitor_identity
from tests.abuse.conftest import MakeLimiter

ALICE, BOB = visitor_identity("alice"), visitor_identity("bob")
OFFICE = ip_identity("5f3a9c")


async def test_allows_up_to_the_limit_then_refuses(make_limiter: MakeLimiter) -> None:
    limiter = await make_limiter(RateLimitRules(battles="3/hour"))
    decisions = [await limiter.hit("battle", ALICE) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions[:3]] == [2, 1, 0]
    refused = decisions[-1]
    assert 3590 <= refused.retry_after_seconds <= 3600
    assert refused.limit == "3 per 1 hour per visitor"
    assert "alice" not in refused.limit


async def test_visitors_and_actions_are_counted_separately(make_limiter: MakeLimiter) -> None:
    limiter = await make_limiter(RateLimitRules(battles="1/hour", votes="2/day"))
    assert (await limiter.hit("battle", ALICE)).allowed
    assert not (await limiter.hit("battle", ALICE)).allowed
    assert (await limiter.hit("battle", BOB)).allowed
    assert (await limiter.hit("vote", ALICE)).allowed
    assert (await limiter.hit("vote", ALICE)).allowed
    refused = await limiter.hit("vote", ALICE)
    assert not refused.allowed
    assert refused.limit == "2 per 1 day per visitor"
    assert 86_000 < refused.retry_after_seconds <= 86_400


async def test_shared_ip_gets_a_larger_limit_and_refusal_charges_nobody(
    make_limiter: MakeLimiter,
) -> None:
    limiter = await make_limiter(RateLimitRules(battles="2/hour", ip_factor=2))
    visitors = [visitor_identity(f"v{i}") for i in range(5)]
    results = [(await limiter.hit("battle", v, OFFICE)).allowed for v in visitors[:4]]
    assert results == [True, True, True, True]  # 4 = 2 x ip_factor from one IP
    refused = await limiter.hit("battle", visitors[4], OFFICE)
    assert not refused.allowed
    assert refused.limit == "4 per 1 hour per ip"
    # v4 was refused because of the IP, so its own allowance is untouched.
    alone = [await limiter.hit("battle", visitors[4]) for _ in range(3)]
    assert [d.allowed for d in alone] == [True, True, False]


async def test_window_frees_up_after_it_passes(make_limiter: MakeLimiter) -> None:
    limiter = await make_limiter(RateLimitRules(battles="2/2 seconds"))
    assert (await limiter.hit("battle", ALICE)).allowed
    assert (await limiter.hit("battle", ALICE)).allowed
    refused = await limiter.hit("battle", ALICE)
    assert not refused.allowed
    assert 1 <= refused.retry_after_seconds <= 2
    await asyncio.sleep(refused.retry_after_seconds + 0.2)
    assert (await limiter.hit("battle", ALICE)).allowed


async def test_concurrent_hits_never_exceed_the_limit(make_limiter: MakeLimiter) -> None:
    limiter = await make_limiter(RateLimitRules(battles="3/hour"))
    decisions = await asyncio.gather(*[limiter.hit("battle", ALICE) for _ in range(12)])
    assert sum(d.allowed for d in decisions) == 3


async def test_reset_unblocks(make_limiter: MakeLimiter) -> None:
    limiter = await make_limiter(RateLimitRules(battles="1/hour"))
    assert (await limiter.hit("battle", ALICE)).allowed
    assert not (await limiter.hit("battle", ALICE)).allowed
    await limiter.reset("battle", ALICE)
    assert (await limiter.hit("battle", ALICE)).allowed


async def test_limiters_on_one_storage_share_counts(
    make_limiter: MakeLimiter, storage_kind: str
) -> None:
    """Two web processes against one Redis see each other's hits; memory is per process."""
    rules = RateLimitRules(battles="2/hour")
    first, second = await make_limiter(rules), await make_limiter(rules)
    assert (await first.hit("battle", ALICE)).allowed
    assert (await second.hit("battle", ALICE)).allowed
    shared = not (await second.hit("battle", ALICE)).allowed
    assert shared == (storage_kind == "redis")


@pytest.mark.parametrize("identity", ["alice", "visitor:", "user:alice", ""])
async def test_identity_must_have_a_known_kind(make_limiter: MakeLimiter, identity: str) -> None:
    limiter = await make_limiter(RateLimitRules())
    with pytest.raises(ValueError):
        await limiter.hit("battle", identity)


async def test_unknown_action_or_no_identity_is_an_error(make_limiter: MakeLimiter) -> None:
    limiter = await make_limiter(RateLimitRules())
    with pytest.raises(ValueError):
        await limiter.hit("upload", ALICE)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await limiter.hit("battle")


@pytest.mark.parametrize(
    "kwargs",
    [{"battles": "lots"}, {"votes": "5 per fortnight"}, {"ip_factor": 0}],
)
def test_bad_rules_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RateLimitRules(**kwargs)  # type: ignore[arg-type]


def test_unsupported_storage_is_rejected() -> None:
    from app.abuse.rate_limits import RateLimiter

    with pytest.raises(ValueError):
        RateLimiter("postgres://x", RateLimitRules(), key_prefix="p:")
