"""The abuse model separates insults from ordinary prompts, even inside long texts."""

from __future__ import annotations

import pytest

from app.moderation.text_abuse import MAX_CHARS, abuse_probability, text_chunks

ABUSIVE = [
    "You are a fucking idiot and I hate you",
    "Shut up you stupid bitch",
    "go kill yourself, worthless piece of shit",
]
NEUTRAL = [
    "What is shown in this picture?",
    "Please describe the chart and summarize the trend.",
    "Thank you, that was very helpful.",
    "How many cats are sitting on the sofa?",
]


@pytest.mark.parametrize("text", ABUSIVE)
def test_abusive_sentences_score_high(text: str) -> None:
    assert abuse_probability(text) > 0.9


@pytest.mark.parametrize("text", NEUTRAL)
def test_neutral_sentences_score_low(text: str) -> None:
    assert abuse_probability(text) < 0.2


def test_insult_hidden_in_a_long_friendly_paragraph_is_found() -> None:
    paragraph = (
        "I uploaded a photo of my garden from last summer. The roses were in full bloom and "
        "the light was soft in the evening. Could you tell me which flowers are visible and "
        "whether the soil looks healthy? You are a fucking idiot. I would also like to know "
        "if the fence needs painting, and what colour would suit the house. Thanks a lot!"
    )
    assert abuse_probability(paragraph) > 0.9


def test_empty_text_is_not_abusive() -> None:
    assert abuse_probability("") == 0.0
    assert abuse_probability("   \n ") == 0.0


def test_chunks_are_capped() -> None:
    chunks = text_chunks("Fine sentence. " * 10_000)
    assert all(len(c) <= MAX_CHARS for c in chunks)
    assert len(chunks[0]) <= MAX_CHARS
