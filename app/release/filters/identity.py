"""Identity leaks: a prompt or answer naming either model (the ranking's rule,
``app.ranking.cleaning.discloses_identity``, with the registry's identity words)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from app.ranking.cleaning import discloses_identity
from app.release.filters.base import DropFilter
from app.release.source import Conversation


class IdentityLeakFilter(DropFilter):
    name = "identity_leak"
    version = 1
    description = "a prompt or an answer names one of the conversation's models"

    def __init__(self, identity_names: Mapping[str, Sequence[str]]) -> None:
        self.identity_names = {k: tuple(v) for k, v in sorted(identity_names.items())}

    def params(self) -> dict[str, Any]:
        return {"identity_words": {k: list(v) for k, v in self.identity_names.items()}}

    def drop(self, conv: Conversation) -> bool:
        record = SimpleNamespace(
            model_a=conv.model_a, model_b=conv.model_b or "",
            answers_a=tuple(t.answer_a for t in conv.turns),
            answers_b=tuple(t.answer_b for t in conv.turns),
            user_turns=tuple(t.prompt for t in conv.turns))
        return discloses_identity(record, self.identity_names)  # type: ignore[arg-type]
