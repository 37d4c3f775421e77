"""Answers that are not answers: a side that failed or did not finish (or answered
nothing), and a side whose answer is an error or a moderation refusal text. The side is
dropped (its Chat row, and the Battle row, which needs both); the other side stays."""

from __future__ import annotations

import dataclasses
import re

from app.moderation.messages import GENERIC_REFUSAL, REFUSALS
from app.release.cache import CacheView
from app.release.filters.base import Filter, FilterReport
from app.release.source import Conversation

# Error texts that engines and endpoints put where an answer should be.
ERROR_PATTERNS = (
    r"^\s*(?:error|exception|traceback \(most recent call last\))\b",
    r"\bCUDA out of memory\b", r"\binternal server error\b", r"\brate limit(?:ed)? exceeded\b",
    r"^\s*\{\s*\"error\"\s*:", r"\bupstream (?:connect )?error\b", r"\bcontext length exceeded\b",
)
_ERRORS = re.compile("|".join(ERROR_PATTERNS), re.IGNORECASE)


def _answers(conv: Conversation, side: str) -> list[str]:
    return [t.answer_a if side == "a" else t.answer_b for t in conv.turns]


def _drop_sides(conv: Conversation, sides: set[str]) -> Conversation | None:
    if not sides:
        return conv
    kept = dataclasses.replace(conv, dropped_sides=conv.dropped_sides | frozenset(sides))
    return kept if kept.sides else None


class UnfinishedFilter(Filter):
    name = "unfinished"
    version = 1
    description = "an answer failed, did not finish, or is empty"

    def apply(self, conv: Conversation, cache: CacheView,
              report: FilterReport) -> Conversation | None:
        bad = set()
        for side in conv.sides:
            statuses = [t.status_a if side == "a" else t.status_b for t in conv.turns]
            if (not statuses or any(s != "done" for s in statuses)
                    or any(not a.strip() for a in _answers(conv, side))):
                bad.add(side)
        return _drop_sides(conv, bad)


class ErrorRefusalFilter(Filter):
    name = "error_refusal"
    version = 1
    description = "an answer is an error text or one of the arena's moderation refusals"

    def params(self) -> dict[str, object]:
        return {"error_patterns": list(ERROR_PATTERNS), "refusals": len(self._refusals)}

    def __init__(self) -> None:
        self._refusals = (*REFUSALS.values(), GENERIC_REFUSAL)

    def is_error_or_refusal(self, text: str) -> bool:
        return bool(_ERRORS.search(text)) or any(r in text for r in self._refusals)

    def apply(self, conv: Conversation, cache: CacheView,
              report: FilterReport) -> Conversation | None:
        bad = {side for side in conv.sides
               if any(self.is_error_or_refusal(a) for a in _answers(conv, side))}
        return _drop_sides(conv, bad)
