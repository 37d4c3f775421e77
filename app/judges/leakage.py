"""Does a FIRE teacher's feedback state the ground truth?

The teacher must say what is wrong without giving the answer away. Matching is on
normalised words so that case, punctuation and spacing cannot hide a leak ("Red!" leaks
"red"), and on whole words so that a part of a word does not count ("reddish" does not
leak "red"). Number words and digits are the same word ("three" leaks "3"). The check is
deliberately conservative: a short ground truth such as "1" or "yes" is flagged whenever
the feedback uses that word at all.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_NUMBER_WORDS = {
    w: str(n) for n, w in enumerate((
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
        "eighteen", "nineteen", "twenty"))
}
_ARTICLES = ("a", "an", "the")


def normalise_words(text: str) -> tuple[str, ...]:
    """Words of ``text``: NFKC, case-folded, split on anything that is not a letter or
    digit, number words as digits."""
    text = unicodedata.normalize("NFKC", text).casefold()
    words = re.split(r"[^\w]+|_", text)
    return tuple(_NUMBER_WORDS.get(w, w) for w in words if w)


def _phrase(text: str) -> tuple[str, ...]:
    words = normalise_words(text)
    while len(words) > 1 and words[0] in _ARTICLES:  # "a red circle" -> "red circle"
        words = words[1:]
    return words


def _contains(words: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(words[i:i + n] == phrase for i in range(len(words) - n + 1))


def find_leaks(feedback: str, ground_truth: str, *, values: Iterable[str] = ()) -> list[str]:
    """The phrases (the ground truth, then each of ``values``) that ``feedback`` states.

    ``values`` are further answer-revealing phrases that the caller knows for this item
    (the colour, shape, count or place that the ground truth names), so that a leak in
    other words than the ground truth's is caught too.
    """
    words = normalise_words(feedback)
    leaks = []
    for candidate in (ground_truth, *values):
        phrase = _phrase(candidate)
        if phrase and _contains(words, phrase):
            leaks.append(candidate)
    return leaks


def leaks_ground_truth(feedback: str, ground_truth: str, *, values: Iterable[str] = ()) -> bool:
    """True when the feedback states the ground truth (or one of ``values``) as a whole
    word or phrase, up to case, punctuation, spacing and number words."""
    return bool(find_leaks(feedback, ground_truth, values=values))


# --- values: the colour, shape, count, place, size or yes/no that a ground truth names ----
#
# A teacher can give the answer away without quoting it: "it is crimson" for "The shape is
# red.", "look at the middle" for "... in the center", "count to 3" for "There are three
# shapes.". Each value below is a concept with the words that say it; a feedback that says
# a concept the ground truth names leaks it. "left" and "right" say a place only next to a
# place word ("on the right", "right side"): "that is right" or "you left out" do not.

_CONCEPTS: dict[str, tuple[str, ...]] = {
    "red": ("red", "crimson", "scarlet"), "green": ("green", "emerald"),
    "blue": ("blue", "navy", "azure"), "yellow": ("yellow", "golden", "gold"),
    "purple": ("purple", "violet", "lilac", "magenta"), "orange": ("orange", "amber"),
    "white": ("white",), "black": ("black",), "grey": ("grey", "gray"),
    "pink": ("pink",), "brown": ("brown",),
    "circle": ("circle", "circles", "circular", "round", "disc", "disk", "ring"),
    "square": ("square", "squares", "box", "rectangle", "rectangular", "cube"),
    "triangle": ("triangle", "triangles", "triangular"),
    "star": ("star", "stars", "starry"),
    "left": ("left", "leftmost", "west"), "right": ("right", "rightmost", "east"),
    "top": ("top", "upper", "uppermost", "topmost", "north"),
    "bottom": ("bottom", "lower", "lowest", "bottommost", "south"),
    "center": ("center", "centre", "middle", "central", "centered", "centred"),
    "small": ("small", "smaller", "little", "tiny"), "large": ("large", "larger", "big",
                                                             "bigger", "huge"),
    "yes": ("yes", "yeah", "present", "exists"), "no": ("no", "absent", "nope"),
    "1": ("single", "lone", "once"), "2": ("pair", "couple", "twice", "both"),
    "3": ("trio", "thrice"),
}
_WORD_CONCEPT = {w: c for c, words in _CONCEPTS.items() for w in words}
_SIDES = {"left", "right"}
_PLACE_CONTEXT_BEFORE = {"the", "on", "to", "at", "far"}
_PLACE_CONTEXT_AFTER = {"side", "hand", "half", "edge", "corner", "part", "of"}


def _concepts(words: tuple[str, ...]) -> dict[str, str]:
    """Concept -> the word that says it (numbers are their digits)."""
    found: dict[str, str] = {}
    for i, w in enumerate(words):
        if w.isdigit():
            found.setdefault(w, w)
            continue
        concept = _WORD_CONCEPT.get(w)
        if concept is None:
            continue
        if concept in _SIDES:
            before = words[i - 1] if i else ""
            after = words[i + 1] if i + 1 < len(words) else ""
            if before not in _PLACE_CONTEXT_BEFORE and after not in _PLACE_CONTEXT_AFTER:
                continue
        found.setdefault(concept, w)
    return found


def truth_concepts(ground_truth: str, question: str | None = None) -> set[str]:
    """The values the ground truth names that the question does not (a question that asks
    "Is there a red star?" does not make "red" the answer)."""
    named = set(_concepts(normalise_words(ground_truth)))
    if question:
        named -= set(_concepts(normalise_words(question)))
    return named


def teacher_leaks(feedback: str, ground_truth: str, *, question: str | None = None) -> list[str]:
    """What a FIRE teacher's feedback gives away: the ground truth quoted (as `find_leaks`
    finds it), then each value of the ground truth (`truth_concepts`) the feedback says in
    any of its words, e.g. "crimson" for red, "middle" for center, "3" for three."""
    leaks = find_leaks(feedback, ground_truth)
    said = _concepts(normalise_words(feedback))
    leaks += [said[c] for c in sorted(truth_concepts(ground_truth, question)) if c in said]
    return leaks
