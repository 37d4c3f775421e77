"""Style features: counting what an answer's style is made of, and per-battle covariates.

Version 2 (``STYLE_VERSION``) adds to the four of FastChat's style control (tokens,
headers, list items, bold) the emoji count and VisionArena's specificity, ``entities``:
the named entities of the offline recogniser the release's PII filter uses
(``app.ranking.entities``: person names, street addresses, IDs; no places or products).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from app.ranking.battles import Battles, FloatArray

_FENCE = re.compile(r"^\s*(```|~~~).*?^\s*\1[^\n]*$", re.MULTILINE | re.DOTALL)
_HEADER = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+|$)", re.MULTILINE)
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+\S", re.MULTILINE)
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__", re.DOTALL)
# One emoji: a flag (two regional indicators), a keycap, or a pictograph with its
# variation selector, skin tone and ZWJ-joined parts (a family is one emoji). The
# pictographs include the Miscellaneous Symbols and Dingbats blocks (☀, ✂, ❤, ✔).
_PICTO = ("[\U0001F300-\U0001F5FF\U0001F600-\U0001F64F\U0001F680-\U0001F6FF"
          "\U0001F700-\U0001F77F\U0001F780-\U0001F7FF\U0001F800-\U0001F8FF"
          "\U0001F900-\U0001F9FF\U0001FA70-\U0001FAFF\u2600-\u26FF\u2700-\u27BF"
          "\u2B50\u2B55\u2B1B\u2B1C\u231A\u231B\u23E9-\u23FA]")
# symbols that are text unless a variation selector asks for the emoji (© vs ©️)
_TEXT_DEFAULT = "[\u00A9\u00AE\u203C\u2049\u2122\u2139\u2194-\u2199\u24C2\u3030\u303D]\uFE0F"
_MODS = "[\uFE0F\U0001F3FB-\U0001F3FF]*"
_EMOJI = re.compile(
    f"[\U0001F1E6-\U0001F1FF]{{2}}|[0-9#*]\uFE0F?\u20E3|{_TEXT_DEFAULT}"
    f"|{_PICTO}{_MODS}(?:\u200D{_PICTO}{_MODS})*")


def count_emoji(text: str) -> int:
    """Emoji, each counted once however many code points it is made of."""
    return len(_EMOJI.findall(text))


def count_entities(text: str) -> int:
    """Named entities (app.ranking.entities: names, addresses, IDs) in the prose."""
    from app.ranking.entities import find_entities

    return len(find_entities(text))


@dataclass(frozen=True, slots=True)  # slots: a million of them in a leaderboard run
class StyleCounts:
    """Style counts of one answer, in the order of ``STYLE_FEATURES``."""

    tokens: int
    headers: int
    list_items: int
    bold: int
    emoji: int = 0
    entities: int = 0

    def as_tuple(self) -> tuple[int, ...]:
        return (self.tokens, self.headers, self.list_items, self.bold, self.emoji,
                self.entities)


def count_style(text: str, tokens: int | None = None) -> StyleCounts:
    """Count ATX headers (``# x``), list items (``-``, ``*``, ``+``, ``1.``, ``1)``), bold
    spans (``**x**``, ``__x__``), emoji and named entities; fenced code blocks are ignored.

    ``tokens`` should be the generation's token count from the engine; without it the number
    of whitespace-separated words is used as a stand-in.
    """
    prose = _FENCE.sub("", text)
    return StyleCounts(
        tokens=len(text.split()) if tokens is None else int(tokens),
        headers=len(_HEADER.findall(prose)),
        list_items=len(_LIST_ITEM.findall(prose)),
        bold=len(_BOLD.findall(prose)),
        emoji=count_emoji(prose),
        entities=count_entities(prose),
    )


def style_differences(battles: Battles) -> FloatArray:
    """``(n, k)`` normalised differences ``(a - b) / (a + b + 1)`` per style feature."""
    if battles.style_a is None or battles.style_b is None:
        raise ValueError("style control needs style counts (Battles.style_a / style_b)")
    a, b = battles.style_a, battles.style_b
    return (a - b) / (a + b + 1.0)


def standardise(x: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Columns scaled to mean 0 and standard deviation 1; constant columns only centred."""
    mean = x.mean(axis=0) if x.shape[0] else np.zeros(x.shape[1])
    std = x.std(axis=0) if x.shape[0] else np.ones(x.shape[1])
    std = np.where(std > 0, std, 1.0)
    return (x - mean) / std, mean, std
