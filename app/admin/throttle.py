"""Login brute-force protection: failed attempts per username and per IP hash are counted
in a moving window (the `limits` library); over the limit, logins are refused until the
window frees up. Successful logins are not counted."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string


@dataclass(frozen=True)
class LockState:
    locked: bool
    retry_after_s: int = 0


class LoginThrottle:
    def __init__(self, storage_uri: str, per_user: str, per_ip: str) -> None:
        uri = storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}"
        self._window = MovingWindowRateLimiter(storage_from_string(uri))
        self._user = parse(per_user)
        self._ip = parse(per_ip)

    def _keys(self, username: str, ip_hash: str) -> list[tuple[object, str]]:
        return [(self._user, f"user:{username}"), (self._ip, f"ip:{ip_hash}")]

    async def check(self, username: str, ip_hash: str) -> LockState:
        """Locked when either the username or the IP used up its failures."""
        waits = []
        for item, key in self._keys(username, ip_hash):
            if not await self._window.test(item, "admin-login", key):  # type: ignore[arg-type]
                stats = await self._window.get_window_stats(
                    item, "admin-login", key  # type: ignore[arg-type]
                )
                waits.append(max(1, math.ceil(stats.reset_time - time.time())))
        return LockState(bool(waits), max(waits, default=0))

    async def failed(self, username: str, ip_hash: str) -> None:
        for item, key in self._keys(username, ip_hash):
            await self._window.hit(item, "admin-login", key)  # type: ignore[arg-type]

    async def succeeded(self, username: str) -> None:
        await self._window.clear(self._user, "admin-login", f"user:{username}")
