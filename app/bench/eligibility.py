"""Which arena prompts may enter the bench, and the dedup key (pure: no database).

VisionArena-Bench takes single-turn, English, moderation-clean prompts from the arena and
drops duplicates. The demo's prompts come from a handful of templates, so the prompt text
alone is no key: a question is a (image sha256, prompt) pair, and two battles that asked the
same thing about the same picture are one question. The reasons a prompt is dropped are
counted, so a bench manifest can say how it was made.

The arena has no "preset prompt" flag yet (a prompt offered by the page rather than typed by
the visitor): every prompt counts as not preset until battles record one.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

# Drop reasons, in the order they are checked (a prompt is counted under the first).
REASONS: tuple[str, ...] = (
    "removed", "moderation", "no_image", "multi_turn", "empty_prompt", "preset", "not_english",
)
CLEAN_REVIEW_STATUSES = frozenset({"none", "approved"})
ENGLISH = "en"

LanguageOf = Callable[[str], str | None]


@dataclass(frozen=True)
class PromptRecord:
    """What the bench needs to know about one battle's first prompt."""

    battle_id: str
    created_at: datetime
    turns: int
    prompt: str
    image_sha256: str | None
    language: str | None
    review_status: str = "none"
    removed: bool = False
    preset: bool = False  # no such flag in the arena yet: always False


@dataclass(frozen=True)
class BenchPrompt:
    """One distinct (image, prompt) question, from the earliest battle that asked it."""

    question_id: str
    prompt: str
    image_sha256: str
    battle_id: str
    duplicates: int = 0  # later battles that asked the same


@dataclass(frozen=True)
class Eligible:
    prompts: list[BenchPrompt]
    considered: int
    dropped: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    language_detected: int = 0  # prompts whose language the arena had not recorded


def normalise_prompt(text: str) -> str:
    """Whitespace collapsed, ends stripped: the prompt as the dedup key sees it."""
    return " ".join(text.split())


def question_id(image_sha256: str, prompt: str) -> str:
    """Stable id of a question: the same image and prompt always give the same id, in any
    database, so a bench built twice from the same data is the same file."""
    key = f"{image_sha256}\n{normalise_prompt(prompt)}".encode()
    return hashlib.sha256(key).hexdigest()[:32]


def drop_reason(record: PromptRecord, language_of: LanguageOf | None = None) -> str | None:
    """Why ``record`` can not be a bench question, or None when it can.

    A prompt whose language the arena did not record (moderation off) is detected with
    ``language_of`` when given; without a detector such a prompt is kept (unknown is not
    evidence of another language), and counted by the caller."""
    if record.removed or record.review_status == "removed":
        return "removed"
    if record.review_status not in CLEAN_REVIEW_STATUSES:
        return "moderation"
    if not record.image_sha256:
        return "no_image"
    if record.turns != 1:
        return "multi_turn"
    if not normalise_prompt(record.prompt):
        return "empty_prompt"
    if record.preset:
        return "preset"
    language = record.language
    if language is None and language_of is not None:
        language = language_of(record.prompt)
    if language is not None and language != ENGLISH:
        return "not_english"
    return None


def select_eligible(records: Iterable[PromptRecord],
                    language_of: LanguageOf | None = None) -> Eligible:
    """Eligible, deduplicated questions, sorted by question id (so that the order of the
    database's rows can not change the bench). The earliest battle of a duplicate set is
    the one kept."""
    dropped: Counter[str] = Counter()
    first: dict[str, PromptRecord] = {}
    repeats: Counter[str] = Counter()
    considered = detected = 0
    for record in sorted(records, key=lambda r: (r.created_at, r.battle_id)):
        considered += 1
        reason = drop_reason(record, language_of)
        if reason is not None:
            dropped[reason] += 1
            continue
        detected += record.language is None and language_of is not None
        assert record.image_sha256 is not None
        qid = question_id(record.image_sha256, record.prompt)
        if qid in first:
            repeats[qid] += 1
        else:
            first[qid] = record
    prompts = [
        BenchPrompt(qid, normalise_prompt(r.prompt), str(r.image_sha256), r.battle_id,
                    repeats[qid])
        for qid, r in sorted(first.items())
    ]
    return Eligible(prompts, considered, {r: dropped[r] for r in REASONS},
                    sum(repeats.values()), detected)
