"""The bundled lite model names the language of ordinary sentences."""

from __future__ import annotations

import pytest

from app.moderation.language import detect_language


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("The weather is lovely today and I want to go for a walk.", "en"),
        ("Le chat est sur la table et il dort paisiblement.", "fr"),
        ("Der Hund spielt im Garten mit einem roten Ball.", "de"),
        ("今天天气很好，我们去公园散步吧。", "zh"),
        ("¿Qué animal aparece en esta fotografía?", "es"),
    ],
)
def test_detects_language(text: str, code: str) -> None:
    guess = detect_language(text)
    assert guess is not None
    assert guess.code == code
    assert 0.4 <= guess.confidence <= 1.0


def test_multiline_text_is_fine() -> None:
    guess = detect_language("Bonjour à tous.\nJe voudrais savoir ce que montre cette image.")
    assert guess is not None and guess.code == "fr"


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
def test_empty_text_has_no_language(text: str) -> None:
    assert detect_language(text) is None


def test_unsure_guess_is_none() -> None:
    assert detect_language("ok", min_confidence=0.99) is None
