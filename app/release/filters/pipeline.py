"""Apply the filters in order to one conversation and count what each removed, in Chat
rows (one per side) and Battle rows (one per eligible battle)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from app.release.cache import CacheView
from app.release.filters.base import Filter, FilterReport
from app.release.source import Conversation

_EMPTY = CacheView({})


def rows(conv: Conversation | None) -> tuple[int, int]:
    """(Chat rows, Battle rows) a conversation gives."""
    if conv is None:
        return 0, 0
    return len(conv.sides), int(conv.battle_eligible)


def run(conv: Conversation, filters: Sequence[Filter], reports: Mapping[str, FilterReport],
        caches: Mapping[str, CacheView] | None = None) -> Conversation | None:
    current: Conversation | None = conv
    for f in filters:
        assert current is not None
        before = rows(current)
        out = f.apply(current, (caches or {}).get(f.name, _EMPTY), reports[f.name])
        if out is not None and not out.sides:
            out = None
        after = rows(out)
        reports[f.name].chat_removed += before[0] - after[0]
        reports[f.name].battle_removed += before[1] - after[1]
        current = out
        if current is None:
            return None
    return current
