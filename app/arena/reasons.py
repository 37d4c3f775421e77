"""Vote reasons: the per-side tags a voter may add after choosing, and a short comment.

The tag vocabulary is fixed here so that the stored labels mean the same thing in every
export; each tag names the VLFeedback aspect and the VL-RewardBench criterion it speaks
to (docs/data-dictionary.md), so that reasons can serve as labels later. Validation is
pure; *when* reasons may be given is a battle rule (app/arena/rules.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.arena.errors import ArenaError


@dataclass(frozen=True)
class Tag:
    name: str
    label: str
    positive: bool
    vlfeedback: str  # helpfulness | visual_faithfulness | ethics
    vlrewardbench: str  # the benchmark's judging criterion (accuracy, completeness, ...)


TAGS: tuple[Tag, ...] = (
    Tag("correct", "Correct", True, "visual_faithfulness", "accuracy"),
    Tag("helpful", "Helpful", True, "helpfulness", "relevance"),
    Tag("well_formatted", "Well formatted", True, "helpfulness", "clarity"),
    Tag("wrong_about_image", "Wrong about the image", False, "visual_faithfulness", "accuracy"),
    Tag("incomplete", "Incomplete", False, "helpfulness", "completeness"),
    Tag("refused", "Refused", False, "ethics", "relevance"),
    Tag("too_long", "Too long", False, "helpfulness", "clarity"),
)
TAG_NAMES: tuple[str, ...] = tuple(t.name for t in TAGS)
TAG_LABELS: dict[str, str] = {t.name: t.label for t in TAGS}
COMMENT_MAX_CHARS = 280


@dataclass(frozen=True)
class VoteReasons:
    tags_a: tuple[str, ...]
    tags_b: tuple[str, ...]
    comment: str | None

    @property
    def tags(self) -> dict[str, list[str]]:
        return {"a": list(self.tags_a), "b": list(self.tags_b)}


def _side_tags(values: Iterable[object], side: str) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        if not isinstance(value, str) or value not in TAG_NAMES:
            raise ArenaError(
                f"Unknown reason for {side.upper()}: choose from {', '.join(TAG_NAMES)}.", 422
            )
        if value in out:
            raise ArenaError(f"A reason for {side.upper()} was given twice.", 422)
        out.append(value)
    return tuple(sorted(out, key=TAG_NAMES.index))  # one canonical order


def check_reasons(
    tags_a: Sequence[object], tags_b: Sequence[object], comment: object
) -> VoteReasons:
    """The reasons as stored, or a 422 that says what is wrong. The comment is plain text
    (pages escape it; exports carry it as a string): only NUL and other control
    characters besides newlines and tabs are refused."""
    if comment is not None and not isinstance(comment, str):
        raise ArenaError("The comment must be text.", 422)
    text = (comment or "").strip()
    if len(text) > COMMENT_MAX_CHARS:
        raise ArenaError(
            f"The comment is too long ({len(text):,} characters; "
            f"the limit is {COMMENT_MAX_CHARS}).",
            422,
        )
    if any(ord(c) < 32 and c not in "\n\t" for c in text):
        raise ArenaError("The comment contains invalid characters.", 422)
    reasons = VoteReasons(_side_tags(tags_a, "a"), _side_tags(tags_b, "b"), text or None)
    if not (reasons.tags_a or reasons.tags_b or reasons.comment):
        raise ArenaError("Choose at least one reason or write a comment.", 422)
    return reasons


def summarise_reasons(
    rows: Iterable[tuple[str, Sequence[str]]],
) -> dict[str, dict[str, object]]:
    """One (model, tags its side got) pair per side of each battle with reasons →
    per model: ``battles`` (with reasons) and ``tags`` (tag → count, vocabulary order)."""
    battles: dict[str, int] = {}
    counts: dict[str, dict[str, int]] = {}
    for model, tags in rows:
        battles[model] = battles.get(model, 0) + 1
        per = counts.setdefault(model, {})
        for tag in tags:
            per[tag] = per.get(tag, 0) + 1
    return {
        m: {"battles": battles[m], "tags": {t: counts[m][t] for t in TAG_NAMES if t in counts[m]}}
        for m in sorted(battles)
    }
