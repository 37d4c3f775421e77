"""Personal data in text (emails, phone numbers, card numbers, ...) via Presidio, offline.

Presidio's default engine loads (and tries to download) a large spaCy NER model. We only
want its pattern recognizers (regex + checksums such as Luhn and IBAN), so the engine gets
a blank spaCy pipeline (tokenizer only) and the NER recognizer is left out. The stock email
recognizer validates domains with tldextract's module-wide extractor, which fetches the
public suffix list from the internet on first use; ours uses the snapshot in the wheel.
Presidio and spaCy are imported on first use: importing them takes seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.moderation._lazy import LazyModel

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine

# Kinds that identify or can reach a person, or move money. Presidio's URL and DATE_TIME
# are left out: links and dates are normal in questions about images.
DEFAULT_PII_KINDS: tuple[str, ...] = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "US_SSN",
    "US_ITIN",
    "US_PASSPORT",
    "US_BANK_NUMBER",
    "UK_NHS",
    "CRYPTO",
)
# Presidio gives bare 9-digit or weak phone-like patterns low scores; 0.4 keeps phone
# numbers (0.4) and drops context-free guesses (passport numbers without context: 0.05).
DEFAULT_MIN_SCORE = 0.4
MAX_CHARS = 20_000


@dataclass(frozen=True)
class PiiFinding:
    """One piece of personal data: its kind and where it is (character offsets)."""

    kind: str
    start: int
    end: int
    score: float


@contextmanager
def _quiet_presidio() -> Iterator[None]:
    """Presidio logs a warning for each predefined recognizer of a language we do not load
    (a screen of them at every start); only errors are worth showing while it builds."""
    logger = logging.getLogger("presidio-analyzer")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _load() -> AnalyzerEngine:
    import spacy
    import tldextract
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import EmailRecognizer, SpacyRecognizer

    offline_extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class OfflineEmailRecognizer(EmailRecognizer):
        """EmailRecognizer whose domain check never touches the network."""

        def validate_result(self, pattern_text: str) -> bool:
            return offline_extract(pattern_text).fqdn != ""

    class BlankSpacyNlpEngine(SpacyNlpEngine):
        """Tokenizer-only spaCy pipeline: nothing to download, no NER."""

        def load(self) -> None:
            self.nlp = {"en": spacy.blank("en")}

    nlp_engine = BlankSpacyNlpEngine(models=[{"lang_code": "en", "model_name": "blank"}])
    nlp_engine.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    with _quiet_presidio():
        registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp_engine)
    registry.recognizers = [
        OfflineEmailRecognizer() if isinstance(r, EmailRecognizer) else r
        for r in registry.recognizers
        if not isinstance(r, SpacyRecognizer)
    ]
    engine = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])
    engine.analyze(text="warm up a@example.com", language="en")  # first call builds caches
    return engine


_ENGINE: LazyModel[AnalyzerEngine] = LazyModel(_load)


def load_pii_engine() -> None:
    """Build the analyzer now instead of on the first text (seconds: spaCy import)."""
    _ENGINE.get()


def find_pii(
    text: str,
    kinds: Iterable[str] = DEFAULT_PII_KINDS,
    min_score: float = DEFAULT_MIN_SCORE,
) -> list[PiiFinding]:
    """Personal data found in `text`, ordered by position. Blocking; call from a thread.

    The patterns are language-agnostic enough (emails, cards, IBANs, IPs, phone numbers)
    to run on any text with the English recognizer set.
    """
    text = text[:MAX_CHARS]
    if not text.strip():
        return []
    results = _ENGINE.get().analyze(
        text=text, language="en", entities=list(kinds), score_threshold=min_score
    )
    findings = {PiiFinding(r.entity_type, r.start, r.end, float(r.score)) for r in results}
    return sorted(findings, key=lambda f: (f.start, f.end, f.kind))


def pii_kinds(findings: Iterable[PiiFinding]) -> tuple[str, ...]:
    """Distinct kinds in first-seen order."""
    return tuple(dict.fromkeys(f.kind for f in findings))
