"""Per-visitor and per-IP-hash rate limits, and a cap on in-flight generations.

Counting uses the `limits` library's async moving-window strategy: Redis
(`async+redis://host:port/db`) in a deployment, where every web process must see the same
counts, and process memory (`memory://`) for the embedded one-process default.

Identities are strings with a kind prefix, made by `visitor_identity()` and
`ip_identity()`. An IP hash is often shared (offices, campuses, mobile carriers), so its
limits are `ip_factor` times the per-visitor ones; a request must pass all of them.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from redis.asyncio import Redis

from app.abuse.slots import MemorySlots, RedisSlots, SlotStore

Action = Literal["battle", "vote"]
IdentityKind = Literal["visitor", "ip"]
_KINDS: tuple[IdentityKind, ...] = ("visitor", "ip")


def visitor_identity(visitor_id: str) -> str:
    return f"visitor:{visitor_id}"


def ip_identity(ip_hash: str) -> str:
    """`ip_hash` must already be the salted hash; raw IPs are never stored."""
    return f"ip:{ip_hash}"


def _kind(identity: str) -> IdentityKind:
    kind = identity.partition(":")[0]
    if kind not in _KINDS or not identity.partition(":")[2]:
        raise ValueError(f"identity must be made by visitor_identity/ip_identity: {identity!r}")
    return kind  # type: ignore[return-value]


@dataclass(frozen=True)
class RateLimitRules:
    """Limits per visitor, in the `limits` notation ("30/hour", "5 per 10 minutes")."""

    battles: str = "30/hour"
    votes: str = "300/day"
    concurrent_generations: int = 2
    ip_factor: int = 10
    slot_ttl_seconds: float = 600.0  # a crashed holder's slot frees itself after this

    def __post_init__(self) -> None:
        for name in ("battles", "votes"):
            parse(getattr(self, name))  # raises ValueError on a malformed limit
        if self.concurrent_generations < 1 or self.ip_factor < 1:
            raise ValueError("concurrent_generations and ip_factor must be >= 1")
        if self.slot_ttl_seconds <= 0:
            raise ValueError("slot_ttl_seconds must be > 0")

    def limit_for(self, action: Action, kind: IdentityKind) -> RateLimitItem:
        if action == "battle":
            item = parse(self.battles)
        elif action == "vote":
            item = parse(self.votes)
        else:
            raise ValueError(f"unknown action {action!r}")
        if kind == "ip":
            item = type(item)(item.amount * self.ip_factor, item.multiples)
        return item

    def slots_for(self, kind: IdentityKind) -> int:
        factor = self.ip_factor if kind == "ip" else 1
        return self.concurrent_generations * factor


@dataclass(frozen=True)
class RateDecision:
    """Whether the action may go ahead; if not, when to retry and which limit said no.

    `limit` is a human-readable description ("30 per 1 hour per visitor") that is safe to
    show: it names the kind of identity, never its value.
    """

    allowed: bool
    retry_after_seconds: int = 0
    limit: str = ""
    remaining: int = 0


class SlotUnavailable(Exception):
    """Too many generations in flight for this identity."""


def _async_uri(uri: str) -> str:
    if uri.startswith("async+"):
        return uri
    if uri.split("://", 1)[0] in {"memory", "redis", "rediss"}:
        return f"async+{uri}"
    raise ValueError(f"unsupported rate-limit storage {uri!r} (use memory:// or redis://)")


class RateLimiter:
    """Counts actions per identity in `storage_uri`; one instance per process.

    Storage errors (Redis down) propagate: the caller decides whether to fail open.
    """

    def __init__(self, storage_uri: str, rules: RateLimitRules, key_prefix: str) -> None:
        uri = _async_uri(storage_uri)
        self.rules = rules
        self.key_prefix = key_prefix
        if uri.startswith("async+memory"):
            self._storage = storage_from_string(uri)
            self._slots: SlotStore = MemorySlots()
        else:
            # One connection pool for the counters and the slots; closed by close().
            client = Redis.from_url(uri.removeprefix("async+"))
            self._storage = storage_from_string(
                uri,
                key_prefix=f"{key_prefix}rl",
                implementation="redispy",
                connection_pool=client.connection_pool,
            )
            self._slots = RedisSlots(client, key_prefix)
        self._window = MovingWindowRateLimiter(self._storage)

    async def hit(self, action: Action, *identities: str) -> RateDecision:
        """Count one `action` for every identity, or none of them if any is over its limit.

        Limits are checked first and only then consumed, so a visitor refused because of
        a busy shared IP is not charged. Two racing requests may both pass the check; the
        consuming step still refuses whichever would go over.
        """
        if not identities:
            raise ValueError("hit() needs at least one identity")
        checks = [(ident, self.rules.limit_for(action, _kind(ident))) for ident in identities]
        refused = [(i, item) for i, item in checks if not await self._window.test(item, action, i)]
        if refused:
            return await self._refusal(action, refused)
        for ident, item in checks:
            if not await self._window.hit(item, action, ident):
                return await self._refusal(action, [(ident, item)])
        remaining = [
            (await self._window.get_window_stats(item, action, ident)).remaining
            for ident, item in checks
        ]
        return RateDecision(allowed=True, remaining=max(0, min(remaining)))

    async def _refusal(
        self, action: Action, refused: list[tuple[str, RateLimitItem]]
    ) -> RateDecision:
        now = time.time()
        waits = []
        for ident, item in refused:
            stats = await self._window.get_window_stats(item, action, ident)
            waits.append((max(1, math.ceil(stats.reset_time - now)), ident, item))
        wait, ident, item = max(waits, key=lambda w: w[0])
        return RateDecision(
            allowed=False,
            retry_after_seconds=wait,
            limit=f"{item} per {_kind(ident)}",
            remaining=0,
        )

    async def reset(self, action: Action, *identities: str) -> None:
        """Forget the counts of `action` for these identities (admin unblock, tests)."""
        for ident in identities:
            await self._window.clear(self.rules.limit_for(action, _kind(ident)), action, ident)

    async def acquire_slot(self, identity: str) -> str | None:
        """Reserve one in-flight generation slot; returns a token, or None when full.

        The token can travel with the job so that another process (the worker) releases
        it; an unreleased slot expires after `rules.slot_ttl_seconds`.
        """
        limit = self.rules.slots_for(_kind(identity))
        return await self._slots.acquire(identity, limit, self.rules.slot_ttl_seconds)

    async def release_slot(self, identity: str, token: str) -> None:
        """Give a slot back (idempotent: releasing twice or after expiry is harmless)."""
        await self._slots.release(identity, token)

    async def in_flight(self, identity: str) -> int:
        return await self._slots.in_flight(identity)

    @asynccontextmanager
    async def generation_slot(self, *identities: str) -> AsyncIterator[None]:
        """Hold one slot per identity for the block; raises SlotUnavailable if any is full."""
        held: list[tuple[str, str]] = []
        try:
            for ident in identities:
                token = await self.acquire_slot(ident)
                if token is None:
                    raise SlotUnavailable(f"too many generations in flight per {_kind(ident)}")
                held.append((ident, token))
            yield
        finally:
            for ident, token in held:
                await self.release_slot(ident, token)

    async def close(self) -> None:
        await self._slots.close()
