"""The text PII recogniser's recall, measured on planted data that every release card
reports: sentences with a known name, e-mail, phone number, street address or ID in them,
made by faker with a fixed seed (several locales), and a span counts as found when a
span of the same type overlaps it. Names come from faker's generators, which share their
name lists with the gazetteer; a second set of names the gazetteer does not hold
("introduced" names) shows what it misses when no phrase like "my name is" introduces them.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Any

from app.release.pii_text import VERSION, find_spans

SEED = 12
PER_KIND = 24
_TEMPLATES = {
    "NAME": ("My friend {} took this photo, what is it?", "Is this the handwriting of {}?",
             "Please describe the picture {} sent me.", "Dear {}, here is the chart."),
    "EMAIL": ("Send the answer to {} please.", "My e-mail is {}, what does the sign say?"),
    "PHONE": ("Call me at {} if you know what this is.", "The number on the card is {}."),
    "ADDRESS": ("I live at {}, is this my street?", "This photo was taken at {}."),
    "ID": ("My passport number is {} and this is my photo.",
           "The customer ID: {} is printed on it."),
}
_UNKNOWN_NAMES = ("Zorblat Quenfis", "Ixelda Brumwater", "Tavish Okonkwo-Prell",
                  "Mireth Vandoorn")


def planted() -> list[tuple[str, str, str]]:
    """(kind, value, text) for every planted item."""
    from faker import Faker

    fake = Faker(["en_US", "en_GB", "de_DE", "fr_FR"])
    Faker.seed(SEED)
    makers = {
        "NAME": lambda: f"{fake.first_name()} {fake.last_name()}",
        "EMAIL": fake.email,
        "PHONE": lambda: fake["en_US"].numerify("(###) 555-0###").replace("(0", "(2"),
        "ADDRESS": lambda: fake["en_US"].street_address(),
        "ID": lambda: fake.bothify("?#######").upper(),
    }
    items = []
    for kind, make in makers.items():
        templates = _TEMPLATES[kind]
        for k in range(PER_KIND):
            value = make()
            items.append((kind, value, templates[k % len(templates)].format(value)))
    items += [("NAME", n, f"Is this the handwriting of {n}?") for n in _UNKNOWN_NAMES]
    return items


@lru_cache(maxsize=1)
def measure_recall() -> dict[str, Any]:
    """Per type: planted, found, recall; and the overall figure. Blocking (Presidio)."""
    planted_n: Counter[str] = Counter()
    found_n: Counter[str] = Counter()
    missed: list[str] = []
    for kind, value, text in planted():
        start = text.index(value)
        end = start + len(value)
        planted_n[kind] += 1
        if any(s.kind == kind and s.start < end and s.end > start for s in find_spans(text)):
            found_n[kind] += 1
        else:
            missed.append(f"{kind}: {value}")
    per_kind = {k: {"planted": planted_n[k], "found": found_n[k],
                    "recall": round(found_n[k] / planted_n[k], 4)} for k in sorted(planted_n)}
    total = sum(planted_n.values())
    return {"recogniser_version": VERSION, "seed": SEED, "per_kind": per_kind,
            "overall": round(sum(found_n.values()) / total, 4), "planted": total,
            "missed": missed}
