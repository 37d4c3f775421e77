"""Gate decisions from real model scores, with thresholds placed around measured scores."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from app.moderation import (
    ModerationGate,
    ModerationResult,
    ModerationThresholds,
    UnreadableImageError,
    refusal_message,
)
from app.moderation.image_nsfw import nsfw_probability
from app.moderation.text_abuse import abuse_probability

INSULT = "Shut up you stupid bitch"
MILD = "damn, nice picture"
NEUTRAL = "What is shown in this picture?"
WITH_PII = "Contact jane.doe@example.com or card 4111 1111 1111 1111 about this photo"


def around(score: float, review_offset: float, block_offset: float) -> ModerationThresholds:
    """Thresholds placed relative to a measured score, clamped to [0, 1]."""
    review = min(max(score + review_offset, 0.0), 1.0)
    block = min(max(score + block_offset, review), 1.0)
    return ModerationThresholds(
        nsfw_review=review, nsfw_block=block, abuse_review=review, abuse_block=block
    )


async def test_blue_square_is_allowed_with_defaults(
    gate: ModerationGate, blue_square: bytes
) -> None:
    result = await gate.check_image(blue_square)
    assert result.decision == "allow"
    assert result.reasons == () and result.blocked_by == ()
    assert result.scores["nsfw"] < 0.2
    assert refusal_message(result) is None


@pytest.mark.parametrize(
    ("review_offset", "block_offset", "decision"),
    [(+0.05, +0.10, "allow"), (-0.05, +0.05, "review"), (-0.10, -0.05, "block")],
)
async def test_image_thresholds_around_the_measured_score(
    skin_square: bytes, review_offset: float, block_offset: float, decision: str
) -> None:
    score = nsfw_probability(skin_square)
    assert 0.1 < score < 0.9  # room on both sides for the thresholds
    gate = ModerationGate(around(score, review_offset, block_offset))
    result = await gate.check_image(skin_square)
    assert result.decision == decision
    assert result.scores["nsfw"] == pytest.approx(score)
    assert result.reasons == (() if decision == "allow" else ("nsfw",))
    assert result.blocked_by == (("nsfw",) if decision == "block" else ())


async def test_score_equal_to_block_threshold_blocks(skin_square: bytes) -> None:
    score = nsfw_probability(skin_square)
    gate = ModerationGate(ModerationThresholds(nsfw_review=score, nsfw_block=score))
    assert (await gate.check_image(skin_square)).decision == "block"


async def test_unreadable_image_raises(gate: ModerationGate) -> None:
    with pytest.raises(UnreadableImageError):
        await gate.check_image(b"GIF89a but not really")


async def test_neutral_prompt_is_allowed(gate: ModerationGate) -> None:
    result = await gate.check_text(NEUTRAL)
    assert result.decision == "allow"
    assert result.language == "en"
    assert result.pii_kinds == ()
    assert result.scores["abuse"] < 0.2


async def test_insult_is_blocked_with_defaults(gate: ModerationGate) -> None:
    result = await gate.check_text(INSULT)
    assert result.decision == "block"
    assert result.blocked_by == ("abuse",)


@pytest.mark.parametrize(
    ("review_offset", "block_offset", "decision"),
    [(+0.05, +0.10, "allow"), (-0.05, +0.05, "review"), (-0.10, -0.05, "block")],
)
async def test_text_thresholds_around_the_measured_score(
    review_offset: float, block_offset: float, decision: str
) -> None:
    score = abuse_probability(MILD)
    assert 0.15 < score < 0.85
    gate = ModerationGate(around(score, review_offset, block_offset))
    result = await gate.check_text(MILD)
    assert result.decision == decision
    assert result.scores["abuse"] == pytest.approx(score)


@pytest.mark.parametrize("action", ["allow", "review", "block"])
async def test_pii_action_decides(action: str) -> None:
    gate = ModerationGate(ModerationThresholds(pii_action=action))  # type: ignore[arg-type]
    result = await gate.check_text(WITH_PII)
    assert result.decision == action
    assert result.pii_kinds == ("EMAIL_ADDRESS", "CREDIT_CARD")
    spans = {WITH_PII[s.start : s.end] for s in result.pii_spans}
    assert spans == {"jane.doe@example.com", "4111 1111 1111 1111"}
    assert ("pii" in result.reasons) == (action != "allow")


async def test_block_outranks_review_and_lists_both_reasons() -> None:
    gate = ModerationGate(ModerationThresholds(pii_action="review"))
    result = await gate.check_text(f"{INSULT}. Mail me at jane.doe@example.com")
    assert result.decision == "block"
    assert result.reasons == ("abuse", "pii")
    assert result.blocked_by == ("abuse",)


async def test_refusal_never_echoes_the_content() -> None:
    secret_text = f"{INSULT}, write to jane.doe@example.com, card 4111 1111 1111 1111"
    gate = ModerationGate(ModerationThresholds(pii_action="block"))
    result = await gate.check_text(secret_text)
    assert set(result.blocked_by) == {"abuse", "pii"}
    message = refusal_message(result)
    assert message is not None
    assert "personal information" in message and "offensive" in message
    for fragment in ("stupid", "bitch", "jane", "example.com", "4111"):
        assert fragment not in message.lower()


async def test_review_has_no_refusal(gate: ModerationGate) -> None:
    result = await gate.check_text(WITH_PII)
    assert result.decision == "review"
    assert refusal_message(result) is None


async def test_result_json_round_trip(gate: ModerationGate) -> None:
    result = await gate.check_text(WITH_PII)
    stored = json.loads(json.dumps(result.to_json()))
    assert "jane" not in json.dumps(stored)  # offsets only, never the text
    restored = ModerationResult.from_json(stored)
    assert restored.decision == result.decision
    assert restored.pii_kinds == result.pii_kinds
    assert [(s.kind, s.start, s.end) for s in restored.pii_spans] == [
        (s.kind, s.start, s.end) for s in result.pii_spans
    ]
    assert restored.scores == pytest.approx(result.scores, abs=1e-5)


def test_result_is_frozen() -> None:
    result = ModerationResult(decision="allow")
    with pytest.raises(AttributeError):
        result.decision = "block"  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"nsfw_review": 0.9, "nsfw_block": 0.5},
        {"abuse_block": 1.5},
        {"abuse_review": -0.1},
        {"pii_action": "maybe"},
    ],
)
def test_inconsistent_thresholds_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ModerationThresholds(**kwargs)  # type: ignore[arg-type]


async def test_concurrent_checks_do_not_block_the_event_loop(
    blue_square: bytes,
) -> None:
    gate = ModerationGate()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        results = await asyncio.gather(
            *[gate.check_image(blue_square) for _ in range(4)],
            *[gate.check_text(t) for t in (NEUTRAL, INSULT, WITH_PII, MILD)],
        )
    finally:
        task.cancel()
    assert [r.decision for r in results[:4]] == ["allow"] * 4
    assert results[5].decision == "block"
    assert ticks > 0  # the loop kept running while models worked in threads


async def test_warm_latency_is_interactive(gate: ModerationGate, blue_square: bytes) -> None:
    """Generous bounds (shared 2-core CI box); typical numbers are in the report."""
    started = time.perf_counter()
    for _ in range(5):
        await gate.check_text(WITH_PII)
    text_ms = (time.perf_counter() - started) * 1000 / 5
    started = time.perf_counter()
    for _ in range(5):
        await gate.check_image(blue_square)
    image_ms = (time.perf_counter() - started) * 1000 / 5
    print(f"warm latency: text {text_ms:.1f} ms, image {image_ms:.1f} ms")
    assert text_ms < 500
    assert image_ms < 1000
