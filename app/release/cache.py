"""The release filters' cache in the database (``release_filter_cache``): verdicts keyed
by (filter, version, content sha256). A batch reads what it needs in one query, the filters
fill in what was missing, and the new verdicts are written in one statement.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.dialect import insert_for
from app.db.release_tables import ReleaseFilterCache


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class CacheView:
    """One filter's verdicts for one batch: the cached ones and those computed now."""

    def __init__(self, found: dict[str, dict[str, Any]]) -> None:
        self._found = found
        self.new: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        return self._found.get(key) or self.new.get(key)

    def put(self, key: str, value: dict[str, Any]) -> None:
        self.new[key] = value


async def fetch(session: AsyncSession, name: str, version: int,
                keys: Iterable[str]) -> CacheView:
    wanted = sorted(set(keys))
    found: dict[str, dict[str, Any]] = {}
    for k in range(0, len(wanted), 500):
        rows = await session.execute(
            select(ReleaseFilterCache.key, ReleaseFilterCache.result).where(
                ReleaseFilterCache.filter == name, ReleaseFilterCache.version == version,
                ReleaseFilterCache.key.in_(wanted[k:k + 500])))
        found.update({key: result for key, result in rows.all()})
    return CacheView(found)


async def store(session: AsyncSession, name: str, version: int, view: CacheView) -> None:
    """Write the batch's new verdicts (a concurrent release's same verdict wins: same value)."""
    if not view.new:
        return
    insert = insert_for(session)
    rows = [{"filter": name, "version": version, "key": k, "result": v}
            for k, v in sorted(view.new.items())]
    for k in range(0, len(rows), 500):
        await session.execute(insert(ReleaseFilterCache).values(rows[k:k + 500])
                              .on_conflict_do_nothing())
    await session.commit()
