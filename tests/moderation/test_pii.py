"""Personal data is found by kind and position; ordinary text is left alone."""

from __future__ import annotations

import pytest

from app.moderation.pii import find_pii, pii_kinds

# 4111 1111 1111 1111 is the Luhn-valid Visa test number; DE89... is the standard IBAN example.
CASES = [
    ("Write to jane.doe@example.com please", "EMAIL_ADDRESS", "jane.doe@example.com"),
    ("Call me at +1 (415) 555-0132 tonight", "PHONE_NUMBER", "+1 (415) 555-0132"),
    ("My card is 4111 1111 1111 1111, exp 12/29", "CREDIT_CARD", "4111 1111 1111 1111"),
    ("Pay to DE89370400440532013000 today", "IBAN_CODE", "DE89370400440532013000"),
    ("The server is at 192.168.1.20 now", "IP_ADDRESS", "192.168.1.20"),
    ("my ssn is 536-22-8726", "US_SSN", "536-22-8726"),
]


@pytest.mark.parametrize(("text", "kind", "value"), CASES)
def test_finds_kind_and_span(text: str, kind: str, value: str) -> None:
    findings = [f for f in find_pii(text) if f.kind == kind]
    assert findings, f"{kind} not found"
    assert any(text[f.start : f.end] == value for f in findings)


def test_several_kinds_in_one_text_in_order() -> None:
    text = "Mail jane.doe@example.com, card 4111-1111-1111-1111, IP 10.0.0.7."
    assert pii_kinds(find_pii(text)) == ("EMAIL_ADDRESS", "CREDIT_CARD", "IP_ADDRESS")


def test_luhn_invalid_card_number_is_not_a_card() -> None:
    assert "CREDIT_CARD" not in pii_kinds(find_pii("My card is 4111 1111 1111 1112"))


@pytest.mark.parametrize(
    "text",
    [
        "What breed is the dog in this photo?",
        "Summarize the chart: sales rose 12% in 2023 to 4,500 units.",
        "See https://example.com/docs for the figure on 3 May 2024.",
        "",
    ],
)
def test_ordinary_text_has_no_pii(text: str) -> None:
    assert find_pii(text) == []


def test_kinds_can_be_restricted() -> None:
    text = "jane.doe@example.com 4111 1111 1111 1111"
    assert pii_kinds(find_pii(text, kinds=["CREDIT_CARD"])) == ("CREDIT_CARD",)
