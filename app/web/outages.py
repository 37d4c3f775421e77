"""What the web tier does when PostgreSQL or Redis is unreachable: a 503 that says so.

A visitor should see "try again in a minute", never a 500 or a reset connection, and the
message names no model (it is shown before the vote). Pages that need neither service keep
working; recovery needs nothing from anyone, because connections are re-established on
the next request (pool pre-ping, Redis health checks and retries).
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from app.db.errors import is_db_outage
from app.queue.errors import QUEUE_OUTAGE_TYPES, is_queue_outage

OUTAGE_MESSAGE = "The arena can not reach its storage right now. Please try again in a minute."
RETRY_AFTER_S = 5


def is_outage(exc: BaseException) -> bool:
    return is_queue_outage(exc) or is_db_outage(exc)


# The exception classes whose handler asks `is_outage` (a DBAPIError may be a plain bug).
OUTAGE_TYPES: tuple[type[BaseException], ...] = (
    *QUEUE_OUTAGE_TYPES, DBAPIError, ConnectionError, TimeoutError, OSError,
)
