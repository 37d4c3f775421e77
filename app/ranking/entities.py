"""Named entities in text, found offline: the one recogniser of the release's PII filter
(``app.release.pii_text``) and of the style feature ``entities`` (``app.ranking.style``).

What it finds, and nothing else:

- **person names**: a capitalised first name followed by a capitalised last name from a
  gazetteer of the locale providers that ship inside ``faker`` (Latin-script locales), a
  title (Mr, Dr, ...) before a capitalised word, or a capitalised word after "my name is" /
  "I'm" / "called" / "named". A first name alone ("Will", "May") is not: it is too often a
  word.
- **street addresses**: a house number, capitalised street words and a street type
  (Street, Ave, Road, ..., Straße, Rue);
- **IDs**: a number after an ID word (ID, passport, licence, account, member, ...).

No places, organisations or products: no NER model can be installed here (spaCy's models
are downloads). ``faker`` is a base dependency: every worker stores these counts with an answer.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from functools import lru_cache

_LOCALES = ("en_US", "en_GB", "en_IE", "en_CA", "en_AU", "de_DE", "fr_FR", "es_ES", "it_IT",
            "nl_NL", "pt_BR", "pt_PT", "pl_PL", "sv_SE", "da_DK", "no_NO", "fi_FI", "cs_CZ")

_CAP = r"[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ]+(?:-[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ]+)?"
_NAME_PAIR = re.compile(rf"(?=\b({_CAP})\s+({_CAP})\b)")  # overlapping: "Dear Jane Doe"
_TITLED = re.compile(rf"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof|Sir|Herr|Frau|Mme|Mlle|Sr|Sra)\.?\s+"
                     rf"({_CAP}(?:\s+{_CAP})?)\b")
_INTRODUCED = re.compile(rf"\b(?:[Mm]y name is|[Mm]y name's|I'm|I am|[Cc]alled|[Nn]amed|"
                         rf"[Ss]igned,?|Dear)\s+({_CAP}(?:\s+{_CAP})?)\b")
_STREET_TYPES = ("Street", "St", "Avenue", "Ave", "Road", "Rd", "Boulevard", "Blvd", "Lane",
                 "Ln", "Drive", "Dr", "Court", "Ct", "Way", "Place", "Pl", "Terrace",
                 "Sq", "Crescent", "Highway", "Hwy", "Parkway", "Pkwy", "Close")


def _street_types() -> str:
    """Street types: ours plus the USPS suffixes in faker's en_US address provider."""
    try:
        from faker.providers.address.en_US import Provider

        extra = tuple(getattr(Provider, "street_suffixes", ()))
    except ImportError:
        extra = ()
    # Shape words the demo world (and images generally) talk about are not street types.
    shapes = {"Circle", "Circles", "Square", "Squares", "Oval", "Star", "Stars", "Ring"}
    names = sorted({*_STREET_TYPES, *extra} - shapes, key=lambda n: (-len(n), n))
    return "|".join(re.escape(n) for n in names)


_ADDRESS = re.compile(
    rf"\b\d{{1,5}}[A-Za-z]?\s+(?:{_CAP}\s+){{1,3}}(?:{_street_types()})\b\.?"
    rf"(?:,?\s+(?:Apt|Suite|Unit)\.?\s*\w+)?(?:,\s*{_CAP}(?:\s+{_CAP})?)?"
    rf"(?:,?\s+[A-Z]{{2}}\s+\d{{5}}(?:-\d{{4}})?)?"
    rf"|\b{_CAP}(?:straße|strasse|weg|gasse|platz|allee)\s+\d{{1,4}}[a-z]?\b"
    rf"(?:,\s*\d{{5}}\s+{_CAP})?"
    rf"|\b\d{{1,4}},?\s+(?:rue|avenue|boulevard|place|chemin)\s+(?:(?:de|du|des|la|le)\s+)*"
    rf"{_CAP}(?:\s+{_CAP})*")
_ID = re.compile(
    r"\b(?:ID|[Ii]dentity|[Pp]assport|[Ll]icen[cs]e|[Aa]ccount|[Mm]ember(?:ship)?|"
    r"[Cc]ustomer|[Ss]tudent|[Ee]mployee|[Pp]atient|[Pp]olicy|SSN|[Ss]ocial [Ss]ecurity|"
    r"[Tt]ax|[Cc]ard)(?:\s+(?:number|no\.?|num|#|ID))?\s*(?:is|:|#)?\s*"
    r"([A-Z0-9][A-Z0-9-]{4,}[0-9][A-Z0-9-]*)\b")


@lru_cache(maxsize=1)
def gazetteer() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, last names) from faker's bundled locale providers."""
    first: set[str] = set()
    last: set[str] = set()
    for locale in _LOCALES:
        try:
            provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        except ImportError:
            continue
        for attr, target in (("first_names", first), ("first_names_male", first),
                             ("first_names_female", first), ("last_names", last)):
            target.update(str(n) for n in getattr(provider, attr, ()) if str(n)[:1].isupper())
    if not first or not last:
        raise RuntimeError("faker's name providers are missing: the names gazetteer is empty")
    return frozenset(first), frozenset(last)


@dataclass(frozen=True)
class Span:
    kind: str  # one of PLACEHOLDERS
    start: int
    end: int


def find_names(text: str) -> list[Span]:
    first, last = gazetteer()
    spans = [Span("NAME", m.start(1), m.end(2)) for m in _NAME_PAIR.finditer(text)
             if m.group(1) in first and (m.group(2) in last or m.group(2) in first)]
    spans += [Span("NAME", m.start(1), m.end(1)) for m in _TITLED.finditer(text)]
    spans += [Span("NAME", m.start(1), m.end(1)) for m in _INTRODUCED.finditer(text)
              if m.group(1).split()[0] in first or m.group(1).split()[0] in last
              or " " in m.group(1)]
    return spans




def find_entities(text: str) -> list[Span]:
    """Names, addresses and IDs, overlaps resolved (earliest start, then longest, wins)."""
    return resolve([*find_names(text),
                    *(Span("ADDRESS", m.start(), m.end()) for m in _ADDRESS.finditer(text)),
                    *(Span("ID", m.start(1), m.end(1)) for m in _ID.finditer(text))])


def resolve(spans: list[Span]) -> list[Span]:
    """Non-overlapping spans: earliest start, then longest, wins."""
    out: list[Span] = []
    for s in sorted(spans, key=lambda s: (s.start, -(s.end - s.start))):
        if out and s.start < out[-1].end:
            continue
        out.append(s)
    return out
