"""An answer's style counts, stored with it when it is saved (``generations.style``,
migration 0019), so that a leaderboard run over a million battles reads them instead of
counting every answer's markdown (and entities) again.

Stored: ``{"version": STYLE_VERSION, "counts": count_style(text).as_tuple()}`` without the
engine's token count (that is ``completion_tokens``, on the row already). A row without
counts, or with another version's, is counted from its text on read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from app.ranking import StyleCounts, count_style
from app.ranking.battles import STYLE_VERSION

_WIDTH = len(dataclasses.fields(StyleCounts))
assert dataclasses.fields(StyleCounts)[0].name == "tokens"


def style_to_store(text: str) -> dict[str, Any]:
    """What ``save_answer`` stores beside the text."""
    return {"version": STYLE_VERSION, "counts": list(count_style(text).as_tuple())}


def stored_style(stored: Mapping[str, Any] | None, tokens: int | None) -> StyleCounts | None:
    """``count_style(text, tokens)`` from the stored counts; None when there are none of
    this version (count the text)."""
    if not stored or stored.get("version") != STYLE_VERSION:
        return None
    counts = stored.get("counts")
    if not isinstance(counts, list) or len(counts) != _WIDTH:
        return None
    if tokens is not None:  # the engine's count (``tokens`` is the first field)
        return StyleCounts(int(tokens), *(int(c) for c in counts[1:]))
    return StyleCounts(*(int(c) for c in counts))
