"""Which database errors mean "the database is unreachable", as opposed to a bad query.

The web answers those with 503 and a clear message, and the worker retries its save
through them; every other error stays an error.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError


def is_db_outage(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    # asyncpg raises these unwrapped when a connection can not even be opened.
    return isinstance(exc, ConnectionError | TimeoutError) or (
        isinstance(exc, OSError) and exc.errno is not None
    )
