"""The engine's connection handling on the real PostgreSQL: a pooled connection the server
closed is replaced before use (no pre-ping round trips), and the reader sessions run each
statement on its own (no BEGIN), so they never sit idle in a transaction."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from app.db.session import make_engine, make_reader, make_sessionmaker


async def test_a_connection_the_server_closed_is_replaced_before_use(pg_url: str) -> None:
    engine = make_engine(pg_url, pool_size=1, max_overflow=0)
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as session:
            first = await session.scalar(text("select pg_backend_pid()"))
        admin = make_engine(pg_url, pool_size=1, max_overflow=0)
        async with make_sessionmaker(admin)() as session:
            assert await session.scalar(text("select pg_terminate_backend(:pid)"),
                                        {"pid": first})
        await admin.dispose()
        await asyncio.sleep(0.5)  # the server's goodbye reaches the idle pooled connection
        async with sessions() as session:  # the pool's only connection: it was closed
            second = await session.scalar(text("select pg_backend_pid()"))
        assert second != first
    finally:
        await engine.dispose()


async def test_reader_sessions_open_no_transaction(pg_url: str) -> None:
    engine = make_engine(pg_url, pool_size=2, max_overflow=0)
    xid = text("select txid_current()")
    try:
        async with make_reader(engine)() as session:
            # Each statement is its own transaction: two statements, two transactions.
            assert await session.scalar(xid) != await session.scalar(xid)
        async with make_sessionmaker(engine)() as session:  # the usual sessions: one
            assert await session.scalar(xid) == await session.scalar(xid)
    finally:
        await engine.dispose()
