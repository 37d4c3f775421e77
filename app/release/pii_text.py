"""Personal data in text, found offline and replaced by typed placeholders.

The moderation recogniser (``app.moderation.pii``, Presidio's pattern recognizers) finds
e-mails, phone numbers, cards, IBANs, IPs and national IDs, but no person names and no
street addresses. Those come from the offline entity recogniser ``app.ranking.entities``
(names from faker's gazetteer, street addresses, numbers after an ID word), which the
ranking's style feature ``entities`` counts with too.

``scrub`` returns the text with every span replaced by ``[NAME]``, ``[EMAIL]``, ...
Blocking (Presidio): call from a thread.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from app.moderation.pii import find_pii
from app.ranking.entities import Span, find_entities, find_names, gazetteer, resolve

__all__ = ["PLACEHOLDERS", "VERSION", "Scrubbed", "Span", "find_names", "find_spans",
           "gazetteer", "scrub"]

VERSION = 1
# Presidio's kinds as placeholders.
_PRESIDIO_TYPES = {
    "EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "CREDIT_CARD": "CARD",
    "IBAN_CODE": "IBAN", "IP_ADDRESS": "IP", "CRYPTO": "CRYPTO", "US_SSN": "ID",
    "US_ITIN": "ID", "US_PASSPORT": "ID", "US_BANK_NUMBER": "ID", "UK_NHS": "ID",
}
PLACEHOLDERS = ("NAME", "EMAIL", "PHONE", "ADDRESS", "ID", "CARD", "IBAN", "IP", "CRYPTO")
_WINDOW, _OVERLAP = 16_000, 400  # Presidio looks at 20k characters at most


_NEEDS_PRESIDIO = re.compile(r"[0-9@]")


def _presidio_spans(text: str) -> list[Span]:
    """Presidio's spans. Every kind we ask it for has a digit or an "@" in it (e-mails,
    phone, card, IBAN, IP, ID numbers, crypto addresses), and its phone matcher is slow
    (~10 ms a text): texts with neither skip it."""
    if not _NEEDS_PRESIDIO.search(text):
        return []
    spans = []
    for offset in range(0, max(len(text), 1), _WINDOW - _OVERLAP):
        spans += [Span(_PRESIDIO_TYPES[f.kind], offset + f.start, offset + f.end)
                  for f in find_pii(text[offset:offset + _WINDOW]) if f.kind in _PRESIDIO_TYPES]
    return spans


def find_spans(text: str) -> list[Span]:
    """Every PII span, overlaps resolved (earliest start, then longest, wins)."""
    return resolve([*_presidio_spans(text), *find_entities(text)])


@dataclass(frozen=True)
class Scrubbed:
    text: str
    counts: dict[str, int]  # placeholder kind → replacements


def scrub(text: str) -> Scrubbed:
    """``text`` with each PII span replaced by its typed placeholder, e.g. ``[EMAIL]``."""
    spans = find_spans(text)
    out = text
    for s in reversed(spans):
        out = f"{out[:s.start]}[{s.kind}]{out[s.end:]}"
    return Scrubbed(out, dict(Counter(s.kind for s in spans)))
