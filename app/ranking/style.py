"""Style features: counting markdown elements and building per-battle covariates."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from app.ranking.battles import Battles, FloatArray

_FENCE = re.compile(r"^\s*(```|~~~).*?^\s*\1[^\n]*$", re.MULTILINE | re.DOTALL)
_HEADER = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+|$)", re.MULTILINE)
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+\S", re.MULTILINE)
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__", re.DOTALL)


@dataclass(frozen=True)
class StyleCounts:
    """Style counts of one answer: length in tokens and markdown elements."""

    tokens: int
    headers: int
    list_items: int
    bold: int

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.tokens, self.headers, self.list_items, self.bold)


def count_style(text: str, tokens: int | None = None) -> StyleCounts:
    """Count ATX headers (``# x``), list items (``-``, ``*``, ``+``, ``1.``, ``1)``) and bold
    spans (``**x**``, ``__x__``) in markdown; fenced code blocks are ignored.

    ``tokens`` should be the generation's token count from the engine; without it the number
    of whitespace-separated words is used as a stand-in.
    """
    prose = _FENCE.sub("", text)
    return StyleCounts(
        tokens=len(text.split()) if tokens is None else int(tokens),
        headers=len(_HEADER.findall(prose)),
        list_items=len(_LIST_ITEM.findall(prose)),
        bold=len(_BOLD.findall(prose)),
    )


def style_differences(battles: Battles) -> FloatArray:
    """``(n, 4)`` normalised differences ``(a - b) / (a + b + 1)`` per style feature."""
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
