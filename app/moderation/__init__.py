"""Moderation gate for images, prompts and model answers (all models run offline)."""

from app.moderation.gate import ModerationGate, decide
from app.moderation.image_nsfw import UnreadableImageError
from app.moderation.messages import refusal_message
from app.moderation.pii import PiiFinding
from app.moderation.result import Decision, ModerationResult, ModerationThresholds

__all__ = [
    "Decision",
    "ModerationGate",
    "ModerationResult",
    "ModerationThresholds",
    "PiiFinding",
    "UnreadableImageError",
    "decide",
    "refusal_message",
]
