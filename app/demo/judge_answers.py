"""Candidate answers for the demo judge, and how right each one is (issue 8).

The judge is trained and measured on answers whose truth the shapes checker gives
(`app.demo.questions.is_correct`), never on how an answer was made: a made answer that the
checker grades otherwise than intended is graded as the checker says. Mistakes are the demo
models' own kinds (a wrong colour, count, shape, place, size or yes/no; descriptions that
drop or invent a shape), and every answer's wording and length are drawn independently of
whether it is right, so that a judge that goes by length or wording stays near chance.

`grade` refines the checker's wrong answers into "partly" (a description of two or more
shapes with exactly one slip: one attribute of one shape) and "wrong", and names the
mistake, so that the judge's weak verdicts, 1-5 ratings and teacher feedback have a
definite target.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, replace
from typing import Literal

from app.demo.questions import (
    _POSITION_ORDER,
    NUMBERS,
    PLACES,
    Question,
    _mentions,
    _number,
    _words,
    is_correct,
)
from app.demo.shapes import COLOURS, KINDS, POSITIONS, SIZES, Scene, Shape

Level = Literal["right", "partly", "wrong"]
# Mistake names; the judge's rationales and feedback say them in these words.
MISTAKES = ("colour", "shape", "place", "size", "count", "yes-no", "other")
_ATTRIBUTE_MISTAKE = {"colour": "colour", "kind": "shape", "position": "place", "size": "size"}
_NUMBER_WORDS = {n: w for w, n in NUMBERS.items()}
STYLES = ("terse", "plain", "wordy")


@dataclass(frozen=True)
class Grade:
    """How right one answer is: the checker's verdict, refined, and the mistake's name."""

    level: Level
    mistake: str | None = None  # None when right

    @property
    def correct(self) -> bool:
        return self.level == "right"

    @property
    def points(self) -> int:
        return {"right": 2, "partly": 1, "wrong": 0}[self.level]


def _slips(mentions: list, shapes: tuple[Shape, ...]) -> list[str]:
    """The mismatched attributes under the best pairing of mentions with shapes."""
    best: list[str] | None = None
    for perm in itertools.permutations(shapes):
        slips = []
        for m, s in zip(mentions, perm, strict=True):
            slips += [a for a in ("colour", "kind") if getattr(m, a) != getattr(s, a)]
            slips += [a for a in ("position", "size")
                      if getattr(m, a) is not None and getattr(m, a) != getattr(s, a)]
        if best is None or len(slips) < len(best):
            best = slips
    return best or []


def grade(question: Question, scene: Scene, answer: str) -> Grade:
    """The checker's verdict on `answer`, with partial credit and the mistake named."""
    if is_correct(question, scene, answer):
        return Grade("right")
    words = _words(answer)
    kind = question.kind
    if kind == "count":
        return Grade("wrong", "count" if _number(words) is not None else "other")
    if kind in ("colour_at", "shape_at"):
        vocabulary = COLOURS if kind == "colour_at" else KINDS
        said = any(w in vocabulary for w in words)
        return Grade("wrong", ("colour" if kind == "colour_at" else "shape") if said else "other")
    if kind == "exists":
        return Grade("wrong", "yes-no" if {"yes", "no"} & set(words) else "other")
    mentions = _mentions(words)
    if kind == "where":
        places = {w for w in words if w in POSITIONS}
        named = {(m.colour, m.kind) for m in mentions}
        asked = (question.params["colour"], question.params["shape"])
        return Grade("wrong", "place" if places and named <= {asked} else "other")
    if kind == "largest":
        if len(mentions) != 1:
            return Grade("wrong", "other")
        largest = next(s for s in scene.shapes if s.size == "large")
        return Grade("wrong", "shape" if mentions[0].kind != largest.kind else "colour")
    if kind == "describe":
        if not mentions:
            return Grade("wrong", "other")
        if len(mentions) != len(scene.shapes):
            return Grade("wrong", "count")
        slips = _slips(mentions, scene.shapes)
        if not slips:
            return Grade("wrong", "other")
        level: Level = "partly" if len(slips) == 1 and len(scene.shapes) >= 2 else "wrong"
        return Grade(level, _ATTRIBUTE_MISTAKE[slips[0]])
    raise ValueError(f"unknown question kind {kind!r}")


# --- the judge's own answer (it answers first, as Arena-Hard's judge prompt asks) ----------

def own_answer(question: Question, scene: Scene) -> str:
    """The right answer in the judge's terse words, e.g. 'red', 'three', 'red circle left,
    blue star top'."""
    p = question.params
    if question.kind == "describe":  # in place order, sizes left out: short to compare
        ordered = sorted(scene.shapes, key=lambda s: _POSITION_ORDER.index(s.position))
        return ", ".join(f"{s.colour} {s.kind} {s.position}" for s in ordered)
    if question.kind == "count":
        return _NUMBER_WORDS[len(scene.shapes)]
    if question.kind in ("colour_at", "shape_at"):
        shape = scene.at(p["position"])
        if shape is None:
            return "none"
        return shape.colour if question.kind == "colour_at" else shape.kind
    if question.kind == "exists":
        present = any((s.colour, s.kind) == (p["colour"], p["shape"]) for s in scene.shapes)
        return "yes" if present else "no"
    if question.kind == "largest":
        largest = next(s for s in scene.shapes if s.size == "large")
        return f"{largest.colour} {largest.kind}"
    if question.kind == "where":
        shape = next(s for s in scene.shapes if (s.colour, s.kind) == (p["colour"], p["shape"]))
        return shape.position
    raise ValueError(f"unknown question kind {question.kind!r}")


def answer_key(question: Question, answer: str) -> str:
    """What an answer claims, in the judge's terse words (as `own_answer` says the truth):
    the judge writes it for each answer before comparing it with its own."""
    words = _words(answer)
    kind = question.kind
    if kind == "count":
        n = _number(words)
        return _NUMBER_WORDS.get(n, str(n)) if n is not None else "none"
    if kind in ("colour_at", "shape_at"):
        vocabulary = COLOURS if kind == "colour_at" else KINDS
        said = [w for w in words if w in vocabulary]
        return " ".join(dict.fromkeys(said)) or "none"
    if kind == "exists":
        return next((w for w in words if w in ("yes", "no")), "none")
    if kind == "where":
        return next((w for w in words if w in POSITIONS), "none")
    mentions = _mentions(words)
    if kind == "largest":
        return ", ".join(f"{m.colour} {m.kind}" for m in mentions) or "none"
    if kind == "describe":  # as `own_answer` says it: in place order, without sizes
        ordered = sorted(mentions, key=lambda m: _POSITION_ORDER.index(m.position)
                         if m.position else len(_POSITION_ORDER))
        return ", ".join(" ".join(x for x in (m.colour, m.kind, m.position) if x)
                         for m in ordered) or "none"
    raise ValueError(f"unknown question kind {kind!r}")


# --- making answers: a claim (true or corrupted), said in one of three styles -------------

def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _other(rng: random.Random, options, current):
    return rng.choice([o for o in options if o != current])


def _say_count(n: int, style: str, rng: random.Random) -> str:
    word = str(n) if rng.random() < 0.25 else _NUMBER_WORDS[n]
    noun = "shape" if n == 1 else "shapes"
    if style == "terse":
        return f"{_cap(word)}."
    if style == "plain":
        return "There is one shape." if n == 1 else f"There are {word} shapes."
    return rng.choice([f"Looking at the image, I count {word} {noun} in total.",
                       f"I can see {word} {noun} in this picture."])


def _say_attribute(kind: str, place: str, value: str, style: str, rng: random.Random) -> str:
    where = PLACES[place]
    if kind == "colour_at":
        return {"terse": f"{_cap(value)}.",
                "plain": f"The shape {where} is {value}.",
                "wordy": rng.choice([f"Looking at the image, the shape {where} is coloured "
                                     f"{value}.", f"It is {value}; that is the colour of the "
                                     f"shape {where}."])}[style]
    return {"terse": f"{_cap(_article(value))} {value}.",
            "plain": f"The shape {where} is {_article(value)} {value}.",
            "wordy": rng.choice([f"Looking closely, the shape {where} appears to be "
                                 f"{_article(value)} {value}.", f"I can see {_article(value)} "
                                 f"{value} there, {where} in the picture."])}[style]


def _say_exists(present: bool, colour: str, kind: str, style: str, rng: random.Random) -> str:
    thing = f"{colour} {kind}"
    if style == "terse":
        return "Yes." if present else "No."
    if style == "plain":
        return (f"Yes, there is {_article(colour)} {thing}." if present
                else f"No, there is no {thing}.")
    return (f"Yes. Looking at the image, I can see {_article(colour)} {thing} in it."
            if present else f"No. I looked at the whole image and there is no {thing} in it.")


def _say_largest(colour: str, kind: str, style: str, rng: random.Random) -> str:
    return {"terse": f"The {colour} {kind}.",
            "plain": f"The largest shape is the {colour} {kind}.",
            "wordy": f"Looking at the sizes, the largest shape in the image is the "
                     f"{colour} {kind}."}[style]


def _say_where(colour: str, kind: str, place: str, style: str, rng: random.Random) -> str:
    where = PLACES[place]
    return {"terse": f"{_cap(where)}.",
            "plain": f"The {colour} {kind} is {where}.",
            "wordy": f"Looking at the image, the {colour} {kind} can be found {where}."}[style]


def _say_describe(shapes: list[Shape], style: str, rng: random.Random) -> str:
    with_size = rng.random() < 0.75
    if rng.random() < 0.5:
        shapes = sorted(shapes, key=lambda s: _POSITION_ORDER.index(s.position))
    else:
        shapes = rng.sample(shapes, len(shapes))
    names = [f"{s.label if with_size else f'{s.colour} {s.kind}'} {PLACES[s.position]}"
             for s in shapes]
    if style == "terse":
        return "; ".join(_cap(n) for n in names) + "."
    parts = [f"{_article(n)} {n}" for n in names]
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    if style == "plain":
        return _cap(text) + "."
    return f"The image shows {text}, on a grey background."


def _corrupt_describe(scene: Scene, rng: random.Random, slips: int) -> list[Shape]:
    """The scene's shapes with `slips` attribute changes, or one shape dropped or added."""
    shapes = list(scene.shapes)
    if slips == 0:
        return shapes
    if slips < 0:  # a count mistake: drop a shape, or invent one in a free place
        free = [p for p in POSITIONS if scene.at(p) is None]
        if len(shapes) > 1 and (not free or rng.random() < 0.5):
            shapes.pop(rng.randrange(len(shapes)))
        else:
            shapes.append(Shape(rng.choice(KINDS), rng.choice(list(COLOURS)),
                                rng.choice(free), rng.choice(list(SIZES))))
        return shapes
    for _ in range(slips):
        i = rng.randrange(len(shapes))
        s = shapes[i]
        attribute = rng.choice(["colour", "kind", "position", "size"])
        used = {t.position for t in shapes}
        if attribute == "colour":
            s = replace(s, colour=_other(rng, list(COLOURS), s.colour))
        elif attribute == "kind":
            s = replace(s, kind=_other(rng, KINDS, s.kind))
        elif attribute == "size":
            s = replace(s, size=_other(rng, list(SIZES), s.size))
        elif len(used) < len(POSITIONS):
            s = replace(s, position=rng.choice([p for p in POSITIONS if p not in used]))
        shapes[i] = s
    return shapes


def make_answer(question: Question, scene: Scene, rng: random.Random, *, right: bool,
                style: str | None = None, slips: int | None = None) -> str:
    """An answer that is meant to be right (or wrong) about `scene`, in a random style.

    Whether it really is right is for `grade` to say. `slips` (describe only): 1 makes a
    near miss, 2 two changes, -1 a dropped or invented shape; None draws one."""
    style = style or rng.choice(STYLES)
    p = question.params
    kind = question.kind
    if kind == "count":
        n = len(scene.shapes)
        if not right:
            n = _other(rng, [m for m in range(1, 6) if abs(m - n) <= 2], n)
        return _say_count(n, style, rng)
    if kind in ("colour_at", "shape_at"):
        shape = scene.at(p["position"])
        if shape is None:
            raise ValueError("no shape at the asked place")
        value = shape.colour if kind == "colour_at" else shape.kind
        if not right:
            value = _other(rng, list(COLOURS) if kind == "colour_at" else KINDS, value)
        return _say_attribute(kind, p["position"], value, style, rng)
    if kind == "exists":
        present = any((s.colour, s.kind) == (p["colour"], p["shape"]) for s in scene.shapes)
        return _say_exists(present == right, p["colour"], p["shape"], style, rng)
    if kind == "largest":
        largest = next(s for s in scene.shapes if s.size == "large")
        colour, shape_kind = largest.colour, largest.kind
        if not right:
            others = [s for s in scene.shapes if s is not largest]
            if others and rng.random() < 0.6:  # names a smaller shape of the scene
                pick = rng.choice(others)
                colour, shape_kind = pick.colour, pick.kind
            elif rng.random() < 0.5:
                colour = _other(rng, list(COLOURS), colour)
            else:
                shape_kind = _other(rng, KINDS, shape_kind)
        return _say_largest(colour, shape_kind, style, rng)
    if kind == "where":
        place = next(s.position for s in scene.shapes
                     if (s.colour, s.kind) == (p["colour"], p["shape"]))
        if not right:
            place = _other(rng, list(POSITIONS), place)
        return _say_where(p["colour"], p["shape"], place, style, rng)
    if kind == "describe":
        if right:
            slips = 0
        elif slips is None:
            slips = rng.choice([1, 1, 2, -1, -1])
        return _say_describe(_corrupt_describe(scene, rng, slips), style, rng)
    raise ValueError(f"unknown question kind {kind!r}")


def answer_with(question: Question, scene: Scene, rng: random.Random, level: Level,
                tries: int = 20) -> tuple[str, Grade] | None:
    """An answer that `grade` puts at `level` (None if none came out in `tries`)."""
    for _ in range(tries):
        if level == "partly":
            if question.kind != "describe" or len(scene.shapes) < 2:
                return None
            text = make_answer(question, scene, rng, right=False, slips=1)
        else:
            text = make_answer(question, scene, rng, right=level == "right")
        g = grade(question, scene, text)
        if g.level == level:
            return text, g
    return None
