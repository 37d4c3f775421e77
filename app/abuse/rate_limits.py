"""Per-visitor and per-IP-hash rate limits.

The cap on in-flight generations is not here: it is a count in the database, taken under
a lock in the same transaction that creates the battle (app/arena/battles.py), so that it
survives restarts and two concurrent requests can not both pass it.

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
from dataclasses import dataclass
from typing import Literal

from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from redis.asyncio import Redis

from app.queue.redis_queue import connect

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
    ip_factor: int = 10

    def __post_init__(self) -> None:
        for name in ("battles", "votes"):
            parse(getattr(self, name))  # raises ValueError on a malformed limit
        if self.ip_factor < 1:
            raise ValueError("ip_factor must be >= 1")

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
            self._client: Redis | None = None
        else:
            # Our own connection pool, so that close() releases it.
            client = connect(uri.removeprefix("async+"), decode_responses=False)
            self._client = client
            self._storage = storage_from_string(
                uri,
                key_prefix=f"{key_prefix}rl",
                implementation="redispy",
                connection_pool=client.connection_pool,
            )
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

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose(close_connection_pool=True)
