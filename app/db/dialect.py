"""Dialect-specific statements that both adapters need (PostgreSQL and SQLite)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import JSON, bindparam, cast, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession


def insert_for(session: AsyncSession) -> Any:
    """The `insert` construct with ON CONFLICT support for this session's database."""
    dialect = session.bind.dialect.name if session.bind else "postgresql"
    return pg_insert if dialect == "postgresql" else sqlite_insert


def json_merged(session: AsyncSession, column: Any, patch: dict[str, Any]) -> Any:
    """`column` with the top-level keys of `patch` set, computed by the database in the
    UPDATE itself: two writers merging different keys at once both keep theirs (a read in
    Python followed by a write would lose one)."""
    if session.bind is not None and session.bind.dialect.name == "sqlite":
        return func.json_patch(func.coalesce(column, "{}"), json.dumps(patch))
    # Bound as JSONB values, not strings cast to JSONB: a str bound as JSONB is serialised
    # once more into a JSON *string*, and object || string makes an array.
    merged = func.coalesce(cast(column, JSONB), bindparam(None, {}, type_=JSONB)).op("||")(
        bindparam(None, patch, type_=JSONB))
    return cast(merged, JSON)
