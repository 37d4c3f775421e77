"""Judge items for the demo world: inputs of each task template, the target output, the truth.

Why: the demo judge (models/demo/shapes-judge) is trained on these items and measured on
held-out ones, for every template of its contract (bench-pairwise, category, vlfeedback-
ratings, vlrewardbench-pairwise, fire-teacher). The truth is the shapes checker's, graded by
`app.demo.judge_answers.grade`; the targets below are the judge's output contract, each in
its template's parser format:

- in bench-pairwise, vlrewardbench-pairwise and vlfeedback-ratings the judge first writes
  its own answer ("Mine: red."), as the Arena-Hard judge prompt asks, then what each answer
  claims next to its own and whether that is correct ("A: blue vs red, wrong."), then the
  verdict (the parsers read only the verdict);
- pairwise verdict: right vs not right is strong ([[A>>B]]); both right, or both wrong with
  the same credit, is a tie ([[A=B]]); the weak verdict ([[A>B]]) is for two wrong answers
  when only one is a near miss (a description with a single slip);
- ratings 1-5: right 5, near miss 3, wrong 1 for Helpfulness and Visual Faithfulness;
  Ethical Considerations is always 5 (nothing in the shapes world is unethical, so this
  aspect cannot be learned here);
- teacher: a check line ("Check: blue vs red, wrong.": the student's claim next to the
  ground truth's; a note, never shown to the student), then score 10 right, 5 near miss,
  2 wrong, and feedback that names the kind of mistake in words that never state a colour,
  shape, place, size, number or yes/no.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.demo.categories import TRUTH, Category, load_categories
from app.demo.judge_answers import Grade, Level, answer_key, answer_with, grade, own_answer
from app.demo.questions import Question, make_question, reference_answer
from app.demo.shapes import random_scene

BENCH, CATEGORY, RATINGS = "bench-pairwise@1", "category@1", "vlfeedback-ratings@1"
REWARD, TEACHER = "vlrewardbench-pairwise@1", "fire-teacher@1"
TEMPLATES = (BENCH, CATEGORY, RATINGS, REWARD, TEACHER)
RATINGS_K = (3,)  # answers per VLFeedback prompt in the demo judge's contract
JUDGE_HELD_OUT_SEEDS = range(12_000_000, 13_000_000)  # judge evaluation only
_WORD = {"colour": "colour", "shape": "shape", "place": "place", "size": "size",
         "count": "count", "yes-no": "yes/no", "other": "answer"}
FEEDBACK = {  # no colour, shape, place, size, number or yes/no word (leak check)
    "colour": "The colour is wrong. Look at that shape again.",
    "shape": "The shape is wrong. Look at its outline again.",
    "place": "The place is wrong. Look again where it is.",
    "size": "A size is wrong. Compare the sizes again.",
    "count": "The count is wrong. Count the shapes again.",
    "yes-no": "That is wrong. Check again whether it is there.",
    "other": "That does not answer the question. Read it again.",
}


@dataclass(frozen=True)
class JudgeItem:
    """One judge call: template, text inputs, the scene its image shows, target and truth."""

    template: str
    kind: str  # the question kind, or the category name
    text_inputs: dict[str, Any]
    scene_seed: int | None  # None: the call has no image
    target: str
    truth: dict[str, Any] = field(default_factory=dict)

    def inputs(self, image: Any = None) -> dict[str, Any]:
        """Template inputs; `image` (PNG bytes or an ImageInput) when the call has one."""
        if self.scene_seed is None:
            return dict(self.text_inputs)
        return {**self.text_inputs, "image": image if image is not None else b"scene"}


# --- targets ---------------------------------------------------------------------------

def verdict(a: Grade, b: Grade) -> str:
    if a.correct != b.correct:
        return "A>>B" if a.correct else "B>>A"
    if a.points != b.points:
        return "A>B" if a.points > b.points else "B>A"
    return "A=B"


STATUS = {"right": "correct", "partly": "close", "wrong": "wrong"}


def reasoning(mine: str, labels: Sequence[str], claims: Sequence[str],
              grades: Sequence[Grade]) -> list[str]:
    """The judge's notes: its own answer, then per answer its claim next to the judge's
    own ("A: blue vs red, wrong."): side by side, a tiny model compares them locally."""
    return [f"Mine: {mine}."] + [f"{label}: {claim} vs {mine}, {STATUS[g.level]}."
                                 for label, claim, g in zip(labels, claims, grades, strict=True)]


def bench_target(mine: str, claims: Sequence[str], a: Grade, b: Grade) -> str:
    return "\n".join(reasoning(mine, "AB", claims, (a, b)) + [f"[[{verdict(a, b)}]]"])


def reward_target(mine: str, claims: Sequence[str], a: Grade, b: Grade) -> str:
    better = 1 if a.points > b.points else 2
    return "\n".join(reasoning(mine, "12", claims, (a, b))
                     + [f"Overall Judgment: Answer {better} is better"])


def rating(g: Grade) -> int:
    return {"right": 5, "partly": 3, "wrong": 1}[g.level]


def _helpful(g: Grade) -> str:
    if g.correct:
        return "Correct."
    word = _WORD[g.mistake or "other"]
    return f"Near miss: {word}." if g.level == "partly" else f"Wrong {word}."


def _faithful(g: Grade) -> str:
    if g.correct:
        return "Faithful."
    word = _WORD[g.mistake or "other"]
    return f"Near miss: {word}." if g.level == "partly" else f"Wrong {word}."


def ratings_target(mine: str, claims: Sequence[str], grades: Sequence[Grade]) -> str:
    lines = reasoning(mine, [str(n) for n in range(1, len(grades) + 1)], claims, grades)
    for aspect, say in (("Helpfulness", _helpful), ("Visual Faithfulness", _faithful),
                        ("Ethical Considerations", lambda g: "Harmless.")):
        lines.append(aspect)
        for n, g in enumerate(grades, 1):
            value = 5 if aspect == "Ethical Considerations" else rating(g)
            lines += [f"Text {n}", f"Rating: {value}", f"Rationale: {say(g)}"]
    return "\n".join(lines)


def teacher_score(g: Grade) -> int:
    return {"right": 10, "partly": 5, "wrong": 2}[g.level]


def teacher_target(g: Grade, claim: str, truth: str) -> str:
    """A check line first (the student's claim next to the ground truth's: compared side by
    side), then score and feedback. The check line is the teacher's note, not feedback: it
    states the ground truth, so only the parsed feedback may reach the student."""
    check = f"Check: {claim} vs {truth}, {STATUS[g.level]}."
    if g.correct:
        return f"{check}\nScore: 10\nFeedback: Correct. Nothing to fix."
    hint = FEEDBACK[g.mistake or "other"]
    almost = "Almost. " if g.level == "partly" else ""
    return f"{check}\nScore: {teacher_score(g)}\nFeedback: {almost}{hint}"


def decision_target(yes: bool) -> str:
    return f"<decision>{'yes' if yes else 'no'}</decision>"


# --- items -------------------------------------------------------------------------------

def _answers(question: Question, scene, rng: random.Random,
             levels: Sequence[Level]) -> list[tuple[str, Grade]] | None:
    out = []
    for level in levels:
        made = answer_with(question, scene, rng, level)
        if made is None:
            return None
        out.append(made)
    return out


def _draw(rng: random.Random, table: Sequence[tuple[float, tuple[Level, ...]]]):
    return rng.choices([t for _, t in table], weights=[w for w, _ in table])[0]


_PAIRS = [(0.21, ("right", "wrong")), (0.21, ("wrong", "right")), (0.04, ("right", "partly")),
          (0.04, ("partly", "right")), (0.22, ("right", "right")), (0.2, ("wrong", "wrong")),
          (0.04, ("partly", "wrong")), (0.04, ("wrong", "partly"))]
_DECISIVE = [p for p in _PAIRS if p[1][0] != p[1][1]]


def _pair_item(template: str, seed: int, rng: random.Random) -> JudgeItem | None:
    scene = random_scene(seed)
    question = make_question(scene, rng)
    levels = _draw(rng, _DECISIVE if template == REWARD else _PAIRS)
    made = _answers(question, scene, rng, levels)
    if made is None:
        return None
    (a, ga), (b, gb) = made
    mine = own_answer(question, scene)
    claims = [answer_key(question, a), answer_key(question, b)]
    truth = {"levels": [ga.level, gb.level], "correct": [ga.correct, gb.correct]}
    if template == BENCH:
        return JudgeItem(BENCH, question.kind, {"question": question.text, "answer_a": a,
                         "answer_b": b}, seed, bench_target(mine, claims, ga, gb),
                         {**truth, "verdict": verdict(ga, gb)})
    return JudgeItem(REWARD, question.kind, {"question": question.text, "answer_1": a,
                     "answer_2": b}, seed, reward_target(mine, claims, ga, gb),
                     {**truth, "better": 1 if ga.points > gb.points else 2})


def _ratings_item(seed: int, rng: random.Random, k: int | None = None) -> JudgeItem | None:
    scene = random_scene(seed)
    question = make_question(scene, rng)
    k = k or rng.choice(RATINGS_K)
    levels = [_draw(rng, [(0.45, ("right",)), (0.45, ("wrong",)), (0.1, ("partly",))])[0]
              for _ in range(k)]
    made = _answers(question, scene, rng, levels)
    if made is None:
        return None
    grades = [g for _, g in made]
    return JudgeItem(RATINGS, question.kind, {"question": question.text,
                     "answers": [t for t, _ in made]}, seed,
                     ratings_target(own_answer(question, scene),
                                    [answer_key(question, t) for t, _ in made], grades),
                     {"ratings": [rating(g) for g in grades],
                      "correct": [g.correct for g in grades]})


def teacher_item(question: Question, scene_seed: int, answer: str,
                 **truth: Any) -> JudgeItem:
    """The fire-teacher item on `answer`: the checker's grade is the truth (plus `truth`),
    the target is what the demo teacher's contract says of it."""
    scene = random_scene(scene_seed)
    g = grade(question, scene, answer)
    truth_text = reference_answer(question, scene)
    target = teacher_target(g, answer_key(question, answer), answer_key(question, truth_text))
    return JudgeItem(TEACHER, question.kind, {"question": question.text,
                     "ground_truth": truth_text, "answer": answer}, scene_seed, target,
                     {"score": teacher_score(g), "correct": g.correct, "mistake": g.mistake,
                      "level": g.level, **truth})


def _teacher_item(seed: int, rng: random.Random) -> JudgeItem | None:
    scene = random_scene(seed)
    question = make_question(scene, rng)
    level = _draw(rng, [(0.4, ("right",)), (0.45, ("wrong",)), (0.15, ("partly",))])[0]
    made = _answers(question, scene, rng, [level])
    if made is None:
        return None
    (answer, _g), = made
    return teacher_item(question, seed, answer)


# What an untrained student says when asked again without knowing what to fix (seen in
# the FIRE demo's dialogues of shapes-medium): words of the shapes world that claim nothing
# ("The shape."), an answer to another question about the scene ("Is there a red star?" ->
# "The shape at the bottom is a circle."), or several claims run together ("The shape at
# the top is a star and a circle at the top is a star."). A teacher that has only seen
# well-formed answers scores many of these as right, which inflates FIRE's teacher-scored
# metrics (README, FIRE).
DEGENERATE_ANSWERS = (
    "The shape.", "A shape.", "Shape.", "There is a shape.", "It is the shape.",
    "The shape is there.", "It is.", "The picture.", "There are shapes.", "Look at the shape.",
    "The shape is the shape.", "It is a shape.", "The shapes.", "There is the shape.",
    "There is one shape.",
)
DEGENERATE_KINDS = ("nothing", "off-topic", "run-on")


def _other_answer(question: Question, scene, rng: random.Random) -> str | None:
    """A right or wrong answer to another question about the same scene."""
    other = make_question(scene, rng)
    if other.text == question.text:
        return None
    made = answer_with(other, scene, rng, rng.choice(("right", "wrong")))
    return made[0] if made else None


def degenerate_answer(question: Question, scene, rng: random.Random, kind: str) -> str | None:
    """An answer of one of DEGENERATE_KINDS to `question` (None: try again)."""
    if kind == "nothing":
        answer = rng.choice(DEGENERATE_ANSWERS)
        return answer if answer_key(question, answer) == "none" else None
    first = _other_answer(question, scene, rng)
    if kind == "off-topic" or first is None:
        return first
    own = answer_with(question, scene, rng, rng.choice(("right", "wrong")))
    parts = [p.rstrip(".") for p in (own[0] if own else first, _other_answer(
        question, scene, rng) or first)]
    joiner = rng.choice((" and ", " is ", " ", " at "))
    return parts[0] + joiner + parts[1][:1].lower() + parts[1][1:] + "."


def degenerate_teacher_items(seeds: range, count: int, seed: int) -> list[JudgeItem]:
    """Teacher items whose answer does not answer the question (DEGENERATE_KINDS, in turn)
    and that the checker grades wrong: the target is score 2 and the feedback of the
    checker's mistake, as for any wrong answer."""
    rng = random.Random(f"{TEACHER}:degenerate:{seed}")
    out: list[JudgeItem] = []
    while len(out) < count:
        kind = DEGENERATE_KINDS[len(out) % len(DEGENERATE_KINDS)]
        scene_seed = rng.choice(seeds)
        scene = random_scene(scene_seed)
        question = make_question(scene, rng)
        answer = degenerate_answer(question, scene, rng, kind)
        if answer is None:
            continue
        if grade(question, scene, answer).level != "wrong":
            continue
        out.append(teacher_item(question, scene_seed, answer, degenerate=kind))
    return out


def _category_item(category: Category, seed: int, rng: random.Random) -> JudgeItem | None:
    scene = random_scene(seed)
    want = rng.random() < 0.5  # balanced labels: redraw until the rule gives `want`
    kind = None
    if category.name == "counting":
        kind = "count" if want else rng.choice(["describe", "colour_at", "shape_at", "exists"])
    elif category.name == "yes-answer":
        kind = "exists" if want or rng.random() < 0.5 else None
    question = make_question(scene, rng, kind)
    label = TRUTH[category.name](question, scene)
    if label != want:
        return None
    text: dict[str, Any] = {"criterion": category.question}
    if "prompt" in category.inputs:
        text["prompt"] = question.text
    seed_or_none = seed if "image" in category.inputs else None
    return JudgeItem(CATEGORY, category.name, text, seed_or_none, decision_target(label),
                     {"yes": label})


def make_items(template: str, seeds: range, count: int, seed: int,
               categories: Sequence[Category] | None = None) -> list[JudgeItem]:
    """`count` items of `template`, drawn reproducibly from scene `seeds`."""
    rng = random.Random(f"{template}:{seed}")
    cats = list(categories or load_categories())
    builders: dict[str, Callable[[int], JudgeItem | None]] = {
        BENCH: lambda s: _pair_item(BENCH, s, rng),
        REWARD: lambda s: _pair_item(REWARD, s, rng),
        RATINGS: lambda s: _ratings_item(s, rng),
        TEACHER: lambda s: _teacher_item(s, rng),
        CATEGORY: lambda s: _category_item(cats[len(out) % len(cats)], s, rng),
    }
    out: list[JudgeItem] = []
    while len(out) < count:
        item = builders[template](rng.choice(seeds))
        if item is not None:
            out.append(item)
    return out


EVAL_SEED = 5  # the held-out items of the judge's card (the first of them: its tests)


def held_out_items(template: str, count: int) -> list[JudgeItem]:
    """The card's held-out items of `template`: the same first items for any `count`."""
    return make_items(template, JUDGE_HELD_OUT_SEEDS, count, seed=EVAL_SEED)


def swapped_seed(item: JudgeItem, seeds: range, rng: random.Random) -> int | None:
    """Another scene for the image control (None when the call has no image)."""
    if item.scene_seed is None:
        return None
    while (other := rng.choice(seeds)) == item.scene_seed:
        pass
    return other
