"""What a release filter is, and the report it fills."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from app.release.cache import CacheView
from app.release.source import Conversation

LoadBlob = Callable[[str], bytes]


@dataclass
class FilterReport:
    name: str
    version: int
    description: str
    params: dict[str, Any]
    chat_removed: int = 0
    battle_removed: int = 0
    changed: int = 0  # rows kept but changed (texts scrubbed, images blurred)
    details: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "description": self.description,
                "params": self.params, "chat_removed": self.chat_removed,
                "battle_removed": self.battle_removed, "changed": self.changed,
                "details": dict(sorted(self.details.items()))}


class Filter:
    """A filter decides on one conversation: the same one, a changed copy, a copy with a
    side dropped (``dropped_sides``) or with its vote out (``vote_dropped``), or None to
    drop it whole. Filters with a model override ``load`` (raise FilterUnavailable) and
    ``cache_keys`` (the content their verdict depends on)."""

    name: ClassVar[str]
    version: ClassVar[int]
    description: ClassVar[str]
    cached: ClassVar[bool] = False

    def params(self) -> dict[str, Any]:
        return {}

    def load(self) -> None:
        """Load models now, so a filter that can not run stops the release first."""

    def cache_keys(self, conv: Conversation) -> set[str]:
        return set()

    def apply(self, conv: Conversation, cache: CacheView,
              report: FilterReport) -> Conversation | None:
        raise NotImplementedError

    def new_report(self) -> FilterReport:
        return FilterReport(self.name, self.version, self.description, self.params())


class ImageFilter(Filter):
    """A filter whose verdict depends on the conversation's image (cached by its sha256)."""

    cached = True

    def cache_keys(self, conv: Conversation) -> set[str]:
        return {conv.image_sha256} if conv.image_sha256 else set()


class DropFilter(Filter):
    """A filter that keeps or drops whole conversations by a predicate."""

    def drop(self, conv: Conversation) -> bool:
        raise NotImplementedError

    def apply(self, conv: Conversation, cache: CacheView,
              report: FilterReport) -> Conversation | None:
        return None if self.drop(conv) else conv
