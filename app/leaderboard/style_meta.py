"""Markdown style counts in the released-dataset shape (FastChat / VisionArena
``conv_metadata``: headers per level, ordered vs unordered list items, ``**`` vs ``__``).

The patterns are the ranking engine's (``app.ranking.style``) split by kind, so the totals
here equal ``count_style`` and the dataset describes exactly what style control saw; the
emoji and entity counts (style version 2) are the engine's own functions.
"""

from __future__ import annotations

import re
from typing import Any

from app.leaderboard.records import VotedBattle
from app.ranking.style import count_emoji, count_entities

_FENCE = re.compile(r"^\s*(```|~~~).*?^\s*\1[^\n]*$", re.MULTILINE | re.DOTALL)
_HEADER = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+|$)", re.MULTILINE)
_ORDERED = re.compile(r"^[ \t]*\d{1,9}[.)][ \t]+\S", re.MULTILINE)
_UNORDERED = re.compile(r"^[ \t]*[-*+][ \t]+\S", re.MULTILINE)
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__", re.DOTALL)


def markdown_counts(text: str) -> dict[str, dict[str, int]]:
    prose = _FENCE.sub("", text)
    headers = {f"h{k}": 0 for k in range(1, 7)}
    for hashes in _HEADER.findall(prose):
        headers[f"h{len(hashes)}"] += 1
    bold = {"**": 0, "__": 0}
    for star, _under in _BOLD.findall(prose):
        bold["**" if star else "__"] += 1
    return {
        "header_count": headers,
        "list_count": {"ordered": len(_ORDERED.findall(prose)),
                       "unordered": len(_UNORDERED.findall(prose))},
        "bold_count": bold,
    }


def _add(total: dict[str, dict[str, int]], part: dict[str, dict[str, int]]) -> None:
    for group, counts in part.items():
        for key, value in counts.items():
            total[group][key] += value


def _tokens(text: str, tokens: int | None) -> int:
    """The engine's token count; the word count where a backend did not report one."""
    return len(text.split()) if tokens is None else int(tokens)


def conv_metadata(record: VotedBattle) -> dict[str, Any]:
    """Style counts summed over all turns of each side, with token sums."""
    side: dict[str, dict[str, dict[str, int]]] = {
        s: markdown_counts("") for s in ("a", "b")
    }
    tokens = {"a": 0, "b": 0}
    emoji = {"a": 0, "b": 0}
    entities = {"a": 0, "b": 0}
    user_tokens = 0
    for turn in record.turns:
        user_tokens += len(turn.prompt.split())
        for s, text, n in (("a", turn.answer_a, turn.tokens_a), ("b", turn.answer_b,
                                                                turn.tokens_b)):
            _add(side[s], markdown_counts(text))
            tokens[s] += _tokens(text, n)
            prose = _FENCE.sub("", text)
            emoji[s] += count_emoji(prose)
            entities[s] += count_entities(prose)
    meta: dict[str, Any] = {
        "sum_user_tokens": user_tokens,
        "sum_assistant_a_tokens": tokens["a"],
        "sum_assistant_b_tokens": tokens["b"],
        "turns": len(record.turns),
    }
    for s in ("a", "b"):
        for group, counts in side[s].items():
            meta[f"{group}_{s}"] = counts
        meta[f"emoji_count_{s}"] = emoji[s]
        meta[f"entity_count_{s}"] = entities[s]
    return meta
