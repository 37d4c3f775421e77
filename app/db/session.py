"""Engine and session factory for either adapter (PostgreSQL via asyncpg, or SQLite)."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine


def make_engine(database_url: str, *, pool_size: int = 20, max_overflow: int = 10) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        engine = create_async_engine(database_url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            # WAL lets the embedded worker write while the web process reads.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    engine = create_async_engine(database_url, pool_size=pool_size, max_overflow=max_overflow)

    @event.listens_for(engine.sync_engine, "checkout")
    def _drop_closed(dbapi_conn, _record, _proxy) -> None:  # type: ignore[no-untyped-def]
        # A pooled connection the server closed (a restart, an admin's kill) is replaced
        # before use. asyncpg notices the server's goodbye by itself, so this costs no
        # round trip; SQLAlchemy's pool_pre_ping costs three on every checkout (BEGIN,
        # ";", ROLLBACK), a tenth of the web process's time per battle. A connection that
        # died silently fails its first statement and is replaced then (disconnects
        # invalidate the pool).
        raw = getattr(dbapi_conn, "_connection", None)
        if raw is not None and raw.is_closed():
            raise DisconnectionError("the server closed this pooled connection")

    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


def make_reader(engine: AsyncEngine) -> async_sessionmaker:
    """Sessions for reads of one statement each: on PostgreSQL every statement is its own
    transaction (autocommit), which spares the BEGIN and ROLLBACK round trips a session
    otherwise spends around it. Not for anything that must read a consistent snapshot
    across statements or write more than one row atomically."""
    if engine.dialect.name != "postgresql":
        return make_sessionmaker(engine)
    return make_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"))
