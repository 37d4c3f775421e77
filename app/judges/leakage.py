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
