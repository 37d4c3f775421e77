"""Abuse limits and the moderation gate, applied before any model sees a request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from app.abuse.rate_limits import RateLimiter, ip_identity, visitor_identity
from app.arena.errors import ArenaError
from app.moderation import ModerationGate, ModerationResult, refusal_message


def human_wait(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} minutes"
    return f"{round(seconds / 3600)} hours"


async def check_rate(
    limiter: RateLimiter | None, action: str, visitor_id: uuid.UUID, ip_hash: str
) -> None:
    if limiter is None:
        return
    decision = await limiter.hit(
        action, visitor_identity(str(visitor_id)), ip_identity(ip_hash)  # type: ignore[arg-type]
    )
    if not decision.allowed:
        what = "battles" if action == "battle" else "votes"
        raise ArenaError(
            f"You have reached the limit of {what} ({decision.limit}). "
            f"Please come back in {human_wait(decision.retry_after_seconds)}.",
            429,
            {"Retry-After": str(decision.retry_after_seconds)},
        )


@dataclass
class Screening:
    """What the gate said about one request; stored with the battle for moderators."""

    results: dict[str, Any] = field(default_factory=dict)
    review: bool = False
    language: str | None = None

    def add(self, key: str, result: ModerationResult) -> None:
        self.results[key] = result.to_json()
        self.review = self.review or result.decision == "review"
        if result.language and not self.language:
            self.language = result.language


async def screen(
    gate: ModerationGate | None,
    *,
    image: bytes | None = None,
    prompt: str | None = None,
    screening: Screening | None = None,
    key: str = "prompt",
) -> Screening:
    """Raise a polite refusal if anything is blocked; otherwise say what to flag."""
    screening = screening or Screening()
    if gate is None:
        return screening
    checks: list[tuple[str, ModerationResult]] = []
    if image is not None:
        checks.append(("image", await gate.check_image(image)))
    if prompt is not None:
        checks.append((key, await gate.check_text(prompt)))
    for name, result in checks:
        message = refusal_message(result)
        if message:
            raise ArenaError(message, 422)
        screening.add(name, result)
    return screening
