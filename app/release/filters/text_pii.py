"""Personal data in prompts and answers, replaced by typed placeholders
(``app.release.pii_text``: ``[NAME]``, ``[EMAIL]``, ``[PHONE]``, ``[ADDRESS]``, ``[ID]``,
...). Nothing is dropped; the report counts the texts changed and the spans by type."""

from __future__ import annotations

import dataclasses
from typing import Any

from app.release import pii_text
from app.release.cache import CacheView, text_key
from app.release.errors import FilterUnavailable
from app.release.filters.base import Filter, FilterReport
from app.release.source import Conversation


def _texts(conv: Conversation) -> list[str]:
    return [x for t in conv.turns for x in (t.prompt, t.answer_a, t.answer_b) if x]


class TextPiiFilter(Filter):
    name = "text_pii"
    version = pii_text.VERSION
    description = ("personal data in prompts and answers replaced by typed placeholders "
                   "(not dropped)")
    cached = True

    def params(self) -> dict[str, Any]:
        return {"placeholders": [f"[{p}]" for p in pii_text.PLACEHOLDERS],
                "recognisers": "Presidio pattern recognizers (offline), a names gazetteer "
                               "from faker's locale providers, address and ID patterns"}

    def load(self) -> None:
        try:
            pii_text.gazetteer()
            pii_text.scrub("warm up: Jane Doe, jane@example.com")
        except Exception as exc:
            raise FilterUnavailable(f"the text PII recogniser can not run: {exc}") from exc

    def cache_keys(self, conv: Conversation) -> set[str]:
        return {text_key(x) for x in _texts(conv)}

    def _scrub(self, text: str, cache: CacheView, report: FilterReport) -> str:
        if not text:
            return text
        key = text_key(text)
        verdict = cache.get(key)
        if verdict is None:
            done = pii_text.scrub(text)
            verdict = {"text": done.text if done.counts else None, "counts": done.counts}
            cache.put(key, verdict)
        if verdict["text"] is None:
            return text
        report.details.update(verdict["counts"])
        return str(verdict["text"])

    def apply(self, conv: Conversation, cache: CacheView,
              report: FilterReport) -> Conversation | None:
        turns = tuple(dataclasses.replace(
            t, prompt=self._scrub(t.prompt, cache, report),
            answer_a=self._scrub(t.answer_a, cache, report),
            answer_b=self._scrub(t.answer_b, cache, report)) for t in conv.turns)
        if turns == conv.turns:
            return conv
        report.changed += 1
        return dataclasses.replace(conv, turns=turns)
