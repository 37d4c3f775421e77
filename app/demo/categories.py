"""The demo category set (categories.yaml) and the shapes-world rule that labels each one.

Why: categories are configuration (name, what the classifier sees, the yes/no question), so
the demo ships them as data like a real deployment would; the rules here give the truth the
demo judge's labels are measured against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from app.demo.questions import Question, reference_answer
from app.demo.shapes import Scene

CATEGORIES_FILE = Path(__file__).with_name("categories.yaml")
SEES = {"prompt": ("prompt",), "image": ("image",), "image+prompt": ("image", "prompt"),
        "responses": ("responses",)}


@dataclass(frozen=True)
class Category:
    name: str
    sees: str  # a key of SEES
    question: str

    @property
    def inputs(self) -> tuple[str, ...]:
        """The category@1 inputs (besides `criterion`) the classifier is given."""
        return SEES[self.sees]


def load_categories(path: Path = CATEGORIES_FILE) -> list[Category]:
    doc = yaml.safe_load(Path(path).read_text())
    out = []
    for raw in doc["categories"]:
        if raw["sees"] not in SEES:
            raise ValueError(f"{path}: {raw['name']}: sees must be one of {sorted(SEES)}")
        out.append(Category(str(raw["name"]), str(raw["sees"]), str(raw["question"])))
    return out


def _yes_answer(question: Question, scene: Scene) -> bool:
    return question.kind == "exists" and reference_answer(question, scene) == "Yes."


# name -> (question about the prompt, scene) -> the right label
TRUTH: dict[str, Callable[[Question, Scene], bool]] = {
    "counting": lambda q, s: q.kind == "count",
    "has-star": lambda q, s: any(shape.kind == "star" for shape in s.shapes),
    "multi-object": lambda q, s: len(s.shapes) > 1,
    "yes-answer": _yes_answer,
}
