"""Only conversations whose visitor accepted the terms in force."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.release.filters.base import DropFilter
from app.release.source import Conversation


class ConsentFilter(DropFilter):
    name = "consent"
    version = 1
    description = "the visitor did not accept the terms of use in force"

    def __init__(self, terms_versions: Sequence[str]) -> None:
        self.terms_versions = tuple(terms_versions)

    def params(self) -> dict[str, Any]:
        return {"terms_versions": list(self.terms_versions)}

    def drop(self, conv: Conversation) -> bool:
        return not conv.consented
