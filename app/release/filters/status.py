"""Moderation and operator decisions: removed, waiting for review, banned visitor,
deleted by the owner (each drops the conversation), and votes excluded by an operator
(Battle only: the conversation stays in Chat)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from app.release.cache import CacheView
from app.release.filters.base import DropFilter, Filter, FilterReport
from app.release.source import Conversation


def _flag_filter(name: str, description: str,
                 flagged: Callable[[Conversation], bool]) -> type[DropFilter]:
    """A version-1 filter that drops a conversation when ``flagged`` says so."""
    return type(f"{name.title().replace('_', '')}Filter", (DropFilter,), {
        "name": name, "version": 1, "description": description,
        "drop": lambda self, conv: flagged(conv)})


RemovedFilter = _flag_filter("removed", "removed by a moderator", lambda c: c.removed)
PendingReviewFilter = _flag_filter(
    "pending_review", "flagged by the moderation gate and not yet approved by a moderator",
    lambda c: c.review_status == "review")
BannedFilter = _flag_filter("banned", "the visitor is banned", lambda c: c.visitor_banned)
DeletedFilter = _flag_filter("deleted", "deleted by its owner (My battles)",
                             lambda c: c.deleted)


class ExcludedVoteFilter(Filter):
    name = "excluded_vote"
    version = 1
    description = ("vote excluded by an operator (vote-integrity report): out of Battle, "
                   "the conversation stays in Chat")

    def apply(self, conv: Conversation, cache: CacheView,
              report: FilterReport) -> Conversation | None:
        if conv.vote is not None and conv.vote.excluded:
            return dataclasses.replace(conv, vote_dropped=True)
        return conv
