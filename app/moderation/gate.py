"""The moderation gate: every uploaded image, every prompt and every model answer passes
here before anything else sees it.

Model calls are CPU-bound and blocking, so they run in worker threads; each model is
loaded once per process, on first use (or by `warm_up()` at start-up), under a lock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from app.moderation.image_nsfw import load_nsfw_model, nsfw_probability
from app.moderation.language import detect_language, load_language_model
from app.moderation.pii import DEFAULT_PII_KINDS, PiiFinding, find_pii, load_pii_engine, pii_kinds
from app.moderation.result import (
    ABUSE,
    NSFW,
    PII,
    Decision,
    ModerationResult,
    ModerationThresholds,
    stricter,
)
from app.moderation.text_abuse import abuse_probability, load_abuse_model


def decide(
    thresholds: ModerationThresholds,
    *,
    nsfw: float | None = None,
    abuse: float | None = None,
    pii: Sequence[PiiFinding] = (),
) -> tuple[Decision, tuple[str, ...], tuple[str, ...]]:
    """(decision, reasons, blocked_by) for the measured signals. Pure."""
    levels: list[tuple[str, Decision]] = []
    if nsfw is not None:
        levels.append((NSFW, thresholds.level(nsfw, thresholds.nsfw_review, thresholds.nsfw_block)))
    if abuse is not None:
        levels.append(
            (ABUSE, thresholds.level(abuse, thresholds.abuse_review, thresholds.abuse_block))
        )
    if pii:
        levels.append((PII, thresholds.pii_action))
    decision: Decision = "allow"
    for _, level in levels:
        decision = stricter(decision, level)
    flagged = [(reason, level) for reason, level in levels if level != "allow"]
    flagged.sort(key=lambda item: item[1] != "block")  # block first, order kept otherwise
    reasons = tuple(reason for reason, _ in flagged)
    blocked_by = tuple(reason for reason, level in flagged if level == "block")
    return decision, reasons, blocked_by


class ModerationGate:
    """Checks images and texts against `thresholds`. Safe to share across requests."""

    def __init__(
        self,
        thresholds: ModerationThresholds | None = None,
        pii_kinds: Sequence[str] = DEFAULT_PII_KINDS,
    ) -> None:
        self.thresholds = thresholds or ModerationThresholds()
        self.pii_kinds = tuple(pii_kinds)

    async def warm_up(self) -> None:
        """Load all models now (a few seconds) so the first visitor does not wait."""
        await asyncio.to_thread(_load_all)

    async def check_image(self, data: bytes) -> ModerationResult:
        """NSFW check of an image. Raises UnreadableImageError for undecodable bytes."""
        return await asyncio.to_thread(self._check_image_sync, data)

    async def check_text(self, text: str) -> ModerationResult:
        """Abuse + personal data + language of a prompt or a model answer."""
        return await asyncio.to_thread(self._check_text_sync, text)

    def _check_image_sync(self, data: bytes) -> ModerationResult:
        started = time.perf_counter()
        nsfw = nsfw_probability(data)
        decision, reasons, blocked_by = decide(self.thresholds, nsfw=nsfw)
        return ModerationResult(
            decision=decision,
            reasons=reasons,
            blocked_by=blocked_by,
            scores={NSFW: nsfw},
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )

    def _check_text_sync(self, text: str) -> ModerationResult:
        started = time.perf_counter()
        abuse = abuse_probability(text)
        findings = find_pii(text, self.pii_kinds)
        language = detect_language(text)
        decision, reasons, blocked_by = decide(self.thresholds, abuse=abuse, pii=findings)
        scores = {ABUSE: abuse, PII: max((f.score for f in findings), default=0.0)}
        if language is not None:
            scores["language"] = language.confidence
        return ModerationResult(
            decision=decision,
            reasons=reasons,
            blocked_by=blocked_by,
            scores=scores,
            language=language.code if language else None,
            pii_kinds=pii_kinds(findings),
            pii_spans=tuple(findings),
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )


def _load_all() -> None:
    load_nsfw_model()
    load_abuse_model()
    load_pii_engine()
    load_language_model()
