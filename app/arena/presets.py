"""Presets: an image and an example question drawn by the arena instead of the visitor's
own, for people who do not know what to ask (VisionArena's "random image").

Battles started from a preset are flagged (`Battle.is_preset`, `Battle.preset`): the
ranking leaves them out by default (app/leaderboard/cleaning.py) and exports mark them.
In the demo the images come from the shapes world the demo models know; in a deployment
from a configured folder (`ARENA_PRESET_IMAGE_DIR`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from app.arena.errors import ArenaError
from app.config import Settings

RANDOM_IMAGE = "random-image"
PRESETS = (RANDOM_IMAGE,)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")
# For images without questions of their own, and as the form's examples in a deployment.
GENERAL_QUESTIONS = (
    "Describe this image in detail.",
    "What is unusual about this image?",
    "What text can you read in this image?",
    "How many people or objects are in this image?",
)
# The form's examples in the demo: questions the shapes-world models were trained on.
DEMO_QUESTIONS = (
    "Describe the image.",
    "How many shapes are there?",
    "What colour is the shape on the left?",
    "Is there a red circle?",
)


@dataclass(frozen=True)
class PresetDraw:
    name: str
    image: bytes
    question: str


def _demo_world(settings: Settings) -> bool:
    return settings.preset_image_dir is None and settings.env == "demo"


def preset_available(settings: Settings) -> bool:
    return settings.preset_image_dir is not None or _demo_world(settings)


def example_questions(settings: Settings) -> tuple[str, ...]:
    return DEMO_QUESTIONS if _demo_world(settings) else GENERAL_QUESTIONS


def _bank_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _questions_for(image: Path) -> list[str]:
    sidecar = image.with_suffix(".txt")
    if not sidecar.is_file():
        return list(GENERAL_QUESTIONS)
    lines = [line.strip() for line in sidecar.read_text(errors="replace").splitlines()]
    return [line for line in lines if line] or list(GENERAL_QUESTIONS)


def draw_preset(name: str, settings: Settings, rng: random.Random) -> PresetDraw:
    """Blocking (reads files or draws an image): call it in a thread."""
    if name not in PRESETS:
        raise ArenaError(f"Unknown preset: choose {', '.join(PRESETS)}.", 422)
    if settings.preset_image_dir is not None:
        images = _bank_images(settings.preset_image_dir)
        if not images:
            raise ArenaError("No preset images are available right now.", 503)
        image = rng.choice(images)
        return PresetDraw(name, image.read_bytes(), rng.choice(_questions_for(image)))
    if not _demo_world(settings):
        raise ArenaError("This arena offers no preset images.", 404)
    from app.demo.questions import make_question
    from app.demo.shapes import random_scene, render_png

    scene = random_scene(rng.randrange(2**31))
    return PresetDraw(name, render_png(scene), make_question(scene, rng).text)
