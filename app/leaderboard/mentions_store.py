"""Which identity words an answer contains, stored with it when it is saved
(``generations.mentions``, migration 0021), so that the ranking reader decides the
identity-disclosure rule without reading a million answers' texts.

The rule (``app.ranking.cleaning.discloses_identity``) asks whether any identity word of
the battle's two models (lower-cased) occurs in ``text.lower()``. Stored:
``{"checked": [the lower-cased words looked for], "found": [those in text.lower()]}``;
the words looked for are those of the battle's two models when the answer is saved.
On read, a row whose ``checked`` holds every word the rule now looks for answers from
``found``, exactly as the text would; any other row (saved before 0021, a model's
identity words edited since, a side re-drawn to another model) is read from its text.
Checking only the battle's own models, not a hash of the whole registry, keeps every
stored row valid when models are added to the arena.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any


def model_identity_words(name: str, registry_words: Sequence[Any] | None) -> tuple[str, ...]:
    """A model's identity words as the leaderboard uses them: its name, then the
    registry's ``identity_words``, stripped, blanks and repeats dropped (case kept)."""
    words = [name, *[str(w) for w in registry_words or ()]]
    return tuple(dict.fromkeys(w.strip() for w in words if w.strip()))


def mentions_to_store(text: str, words: Iterable[str]) -> dict[str, list[str]]:
    """What ``save_answer`` stores beside the text: ``words`` (the battle's models'
    identity words) lower-cased, and those that ``text.lower()`` contains."""
    checked = sorted({w.lower() for w in words if w})
    lowered = text.lower()
    return {"checked": checked, "found": [w for w in checked if w in lowered]}


def stored_mentions(stored: Mapping[str, Any] | None, needed: Collection[str]) -> bool | None:
    """Whether the answer contains any of ``needed`` (lower-cased words), from what was
    stored; None when it was not checked for all of them (read the text)."""
    if not needed:
        return False  # the rule looks for nothing: no text can disclose
    if not stored:
        return None
    checked, found = stored.get("checked"), stored.get("found")
    if not isinstance(checked, list) or not isinstance(found, list):
        return None
    if not set(needed) <= set(checked):
        return None
    return any(w in found for w in needed)
