"""Which queue errors mean "Redis is unreachable" (a restart, a network blip)."""

from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

QUEUE_OUTAGE_TYPES: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError)


def is_queue_outage(exc: BaseException) -> bool:
    return isinstance(exc, QUEUE_OUTAGE_TYPES)
