"""Polite refusals shown to the visitor. Fixed sentences: they never quote the input,
so a refusal page cannot be used to display (or probe) the blocked content."""

from __future__ import annotations

from app.moderation.result import ABUSE, NSFW, PII, ModerationResult

REFUSALS: dict[str, str] = {
    NSFW: (
        "This image can't be used here: it looks like it may contain adult or explicit "
        "content. Please choose a different image."
    ),
    ABUSE: (
        "Your message looks like it contains abusive or offensive language. "
        "Please rephrase it and try again."
    ),
    PII: (
        "Your message seems to contain personal information (such as an email address, "
        "phone number or card number). Please remove it and try again; prompts may be "
        "published as part of a research dataset."
    ),
}
GENERIC_REFUSAL = "Sorry, this request can't be processed. Please try something else."


def refusal_message(result: ModerationResult) -> str | None:
    """The message for a blocked result (one sentence per blocking reason), else None."""
    if result.decision != "block":
        return None
    parts = [REFUSALS.get(reason, GENERIC_REFUSAL) for reason in result.blocked_by]
    return " ".join(dict.fromkeys(parts)) or GENERIC_REFUSAL
