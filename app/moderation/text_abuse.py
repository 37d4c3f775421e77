"""Abuse (profanity/insult) probability of a text, from alt-profanity-check.

The model is a linear SVM over bag-of-words, so one slur in a long friendly paragraph is
diluted. We therefore score each sentence-sized chunk and keep the maximum.
"""

from __future__ import annotations

import re
from types import ModuleType

from app.moderation._lazy import LazyModel

MAX_CHARS = 20_000
_CHUNK_SPLIT = re.compile(r"(?<=[.!?。！？])\s+|\n+")


def _load() -> ModuleType:
    import profanity_check  # loads the bundled joblib model at import time

    return profanity_check


_MODEL: LazyModel[ModuleType] = LazyModel(_load)


def load_abuse_model() -> None:
    """Load the model now instead of on the first text."""
    _MODEL.get()


def text_chunks(text: str) -> list[str]:
    """The whole text plus its sentences/lines (capped at MAX_CHARS)."""
    text = text[:MAX_CHARS].strip()
    if not text:
        return []
    parts = [p.strip() for p in _CHUNK_SPLIT.split(text) if p.strip()]
    return [text, *parts] if len(parts) > 1 else [text]


def abuse_probability(text: str) -> float:
    """Highest abuse probability 0..1 over the text and its sentences. Blocking."""
    chunks = text_chunks(text)
    if not chunks:
        return 0.0
    return float(max(_MODEL.get().predict_prob(chunks)))
