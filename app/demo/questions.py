"""Questions about a shapes `Scene` whose answers can be checked against the ground truth.

`make_question` draws a templated question, `reference_answer` says the right answer in the
words the demo models are trained on, and `is_correct` judges any free-text answer the way a
careful reader would: it looks for the colours, kinds, places, counts and yes/no it states.
"""

from __future__ import annotations

import itertools
import random
import re
from collections import Counter
from dataclasses import dataclass, field

from app.demo.shapes import COLOURS, KINDS, POSITIONS, SIZES, Scene, Shape

QUESTION_KINDS = ("describe", "count", "colour_at", "shape_at", "exists", "largest", "where")
PLACES = {
    "left": "on the left",
    "right": "on the right",
    "top": "at the top",
    "bottom": "at the bottom",
    "center": "in the center",
}
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}
_NUMBER_WORDS = {v: k for k, v in NUMBERS.items()}
_POSITION_ORDER = ("left", "top", "center", "bottom", "right")


@dataclass(frozen=True)
class Question:
    kind: str
    text: str
    params: dict[str, str] = field(default_factory=dict)


def _question(kind: str, **params: str) -> Question:
    place = PLACES.get(params.get("position", ""), "")
    colour, shape = params.get("colour", ""), params.get("shape", "")
    text = {
        "describe": "Describe the image.",
        "count": "How many shapes are there?",
        "colour_at": f"What colour is the shape {place}?",
        "shape_at": f"What shape is {place}?",
        "exists": f"Is there {'an' if colour[:1] in 'aeiou' else 'a'} {colour} {shape}?",
        "largest": "What is the largest shape?",
        "where": f"Where is the {colour} {shape}?",
    }[kind]
    return Question(kind, text, dict(params))


def applicable_kinds(scene: Scene) -> list[str]:
    """Question kinds with one clear answer for this scene."""
    kinds = ["describe", "count", "colour_at", "shape_at", "exists"]
    if len(scene.shapes) > 1 and sum(s.size == "large" for s in scene.shapes) == 1:
        kinds.append("largest")
    pairs = Counter((s.colour, s.kind) for s in scene.shapes)
    if any(n == 1 for n in pairs.values()):
        kinds.append("where")
    return kinds


def make_question(scene: Scene, rng: random.Random, kind: str | None = None) -> Question:
    """A random question about `scene` (of `kind`, or of any kind that applies)."""
    kind = kind or rng.choice(applicable_kinds(scene))
    if kind in ("colour_at", "shape_at"):
        return _question(kind, position=rng.choice(scene.shapes).position)
    if kind == "exists":
        if rng.random() < 0.5:
            target = rng.choice(scene.shapes)
            return _question(kind, colour=target.colour, shape=target.kind)
        present = {(s.colour, s.kind) for s in scene.shapes}
        absent = [p for p in itertools.product(COLOURS, KINDS) if p not in present]
        colour, shape = rng.choice(absent)
        return _question(kind, colour=colour, shape=shape)
    if kind == "where":
        pairs = Counter((s.colour, s.kind) for s in scene.shapes)
        colour, shape = rng.choice(sorted(p for p, n in pairs.items() if n == 1))
        return _question(kind, colour=colour, shape=shape)
    return _question(kind)


_PLACE_RE = "|".join(re.escape(p) for p in PLACES.values())
_TEMPLATES = [
    (re.compile(r"describe the image\.?"), "describe"),
    (re.compile(r"how many shapes are there\??"), "count"),
    (re.compile(rf"what colou?r is the shape ({_PLACE_RE})\??"), "colour_at"),
    (re.compile(rf"what shape is ({_PLACE_RE})\??"), "shape_at"),
    (re.compile(r"is there an? (\w+) (\w+)\??"), "exists"),
    (re.compile(r"what is the largest shape\??"), "largest"),
    (re.compile(r"where is the (\w+) (\w+)\??"), "where"),
]


def parse_question(text: str) -> Question | None:
    """The `Question` a templated question text asks (None for free-form questions)."""
    cleaned = " ".join(text.lower().replace("centre", "center").split())
    by_place = {v: k for k, v in PLACES.items()}
    for pattern, kind in _TEMPLATES:
        match = pattern.fullmatch(cleaned)
        if not match:
            continue
        if kind in ("colour_at", "shape_at"):
            return _question(kind, position=by_place[match.group(1)])
        if kind in ("exists", "where"):
            colour, shape = match.groups()
            if colour in COLOURS and shape in KINDS:
                return _question(kind, colour=colour, shape=shape)
            return None
        return _question(kind)
    return None


def _largest(scene: Scene) -> Shape:
    return next(s for s in scene.shapes if s.size == "large")


def describe(scene: Scene) -> str:
    ordered = sorted(scene.shapes, key=lambda s: _POSITION_ORDER.index(s.position))
    parts = [f"a {s.label} {PLACES[s.position]}" for s in ordered]
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return text[0].upper() + text[1:] + "."


def reference_answer(question: Question, scene: Scene) -> str:
    """The right answer, in the fixed phrasing the demo models learn."""
    p = question.params
    if question.kind == "describe":
        return describe(scene)
    if question.kind == "count":
        n = len(scene.shapes)
        return "There is one shape." if n == 1 else f"There are {_NUMBER_WORDS[n]} shapes."
    if question.kind in ("colour_at", "shape_at"):
        shape = scene.at(p["position"])
        if shape is None:
            return f"There is no shape {PLACES[p['position']]}."
        place = PLACES[shape.position]
        if question.kind == "colour_at":
            return f"The shape {place} is {shape.colour}."
        return f"The shape {place} is a {shape.kind}."
    if question.kind == "exists":
        present = any(s.colour == p["colour"] and s.kind == p["shape"] for s in scene.shapes)
        return "Yes." if present else "No."
    if question.kind == "largest":
        largest = _largest(scene)
        return f"The largest shape is the {largest.colour} {largest.kind}."
    if question.kind == "where":
        shape = next(s for s in scene.shapes if (s.colour, s.kind) == (p["colour"], p["shape"]))
        return f"The {shape.colour} {shape.kind} is {PLACES[shape.position]}."
    raise ValueError(f"unknown question kind {question.kind!r}")


# --- reading free-text answers -------------------------------------------------------------

_WORD = re.compile(r"[a-z]+|\d+")
_SYNONYMS = {"centre": "center", "middle": "center", "big": "large", "color": "colour"}
_SINGULAR = {f"{k}s": k for k in KINDS}


def _words(text: str) -> list[str]:
    words = [_SYNONYMS.get(w, w) for w in _WORD.findall(text.lower())]
    return [_SINGULAR.get(w, w) for w in words]


@dataclass(frozen=True)
class _Mention:
    size: str | None
    colour: str
    kind: str
    position: str | None


def _mentions(words: list[str]) -> list[_Mention]:
    """Every '[size] colour kind [place]' phrase in the answer."""
    found = []
    for i in range(len(words) - 1):
        if words[i] in COLOURS and words[i + 1] in KINDS:
            size = words[i - 1] if i > 0 and words[i - 1] in SIZES else None
            after = words[i + 2 : i + 5]
            position = next((w for w in after if w in POSITIONS), None)
            found.append(_Mention(size, words[i], words[i + 1], position))
    return found


def _fits(mention: _Mention, shape: Shape) -> bool:
    return (
        (mention.colour, mention.kind) == (shape.colour, shape.kind)
        and mention.size in (None, shape.size)
        and mention.position in (None, shape.position)
    )


def _describes(mentions: list[_Mention], scene: Scene) -> bool:
    if len(mentions) != len(scene.shapes):
        return False
    return any(
        all(_fits(m, s) for m, s in zip(mentions, perm, strict=True))
        for perm in itertools.permutations(scene.shapes)
    )


def _number(words: list[str]) -> int | None:
    for w in words:
        if w.isdigit():
            return int(w)
        if w in NUMBERS:
            return NUMBERS[w]
    return None


def is_correct(question: Question | str, scene: Scene, answer_text: str) -> bool:
    """Whether `answer_text` answers `question` about `scene` correctly.

    A question given as text must be one of the templates (see `parse_question`).
    """
    if isinstance(question, str):
        parsed = parse_question(question)
        if parsed is None:
            raise ValueError(f"not a question this world can check: {question!r}")
        question = parsed
    words = _words(answer_text)
    p = question.params
    if question.kind == "describe":
        return _describes(_mentions(words), scene)
    if question.kind == "count":
        return _number(words) == len(scene.shapes)
    if question.kind in ("colour_at", "shape_at"):
        shape = scene.at(p["position"])
        vocabulary = COLOURS if question.kind == "colour_at" else KINDS
        said = {w for w in words if w in vocabulary}
        if shape is None:
            return not said and "no" in words
        return said == {shape.colour if question.kind == "colour_at" else shape.kind}
    if question.kind == "exists":
        present = any(s.colour == p["colour"] and s.kind == p["shape"] for s in scene.shapes)
        verdict = next((w for w in words if w in ("yes", "no")), None)
        return verdict == ("yes" if present else "no")
    if question.kind == "largest":
        largest = _largest(scene)
        return {(m.colour, m.kind) for m in _mentions(words)} == {(largest.colour, largest.kind)}
    if question.kind == "where":
        shape = next(s for s in scene.shapes if (s.colour, s.kind) == (p["colour"], p["shape"]))
        named = {(m.colour, m.kind) for m in _mentions(words)}
        if named - {(shape.colour, shape.kind)}:
            return False  # it talks about another shape
        return {w for w in words if w in POSITIONS} == {shape.position}
    raise ValueError(f"unknown question kind {question.kind!r}")
