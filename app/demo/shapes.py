"""A tiny world of coloured shapes with known ground truth (issue 5).

Each image is drawn from a `Scene`: one to four shapes, each with a kind, a named colour, a
named position and a size. Because the truth is known, an answer about the image can be
checked automatically: the demo's models can be scored and the simulated voters can vote
like people who look at the picture.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import asdict, dataclass

from PIL import Image, ImageDraw

KINDS = ("circle", "square", "triangle", "star")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (50, 90, 230),
    "yellow": (240, 220, 40),
    "purple": (150, 60, 200),
    "orange": (250, 140, 30),
}
# Centres as fractions of the image side; far enough apart that two large shapes never touch.
POSITIONS: dict[str, tuple[float, float]] = {
    "left": (0.2, 0.5),
    "right": (0.8, 0.5),
    "top": (0.5, 0.2),
    "bottom": (0.5, 0.8),
    "center": (0.5, 0.5),
}
SIZES: dict[str, float] = {"small": 0.08, "large": 0.145}  # radius as a fraction of the side
MAX_SHAPES = 4


@dataclass(frozen=True)
class Shape:
    kind: str
    colour: str
    position: str
    size: str

    @property
    def label(self) -> str:
        """E.g. 'large red circle'."""
        return f"{self.size} {self.colour} {self.kind}"


@dataclass(frozen=True)
class Scene:
    """The ground truth of one image, plus what is needed to draw it again."""

    shapes: tuple[Shape, ...]
    image_size: int = 96
    seed: int = 0  # drives the small jitter in the drawing only

    def at(self, position: str) -> Shape | None:
        return next((s for s in self.shapes if s.position == position), None)

    def to_dict(self) -> dict:
        return {
            "shapes": [asdict(s) for s in self.shapes],
            "image_size": self.image_size,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Scene:
        return cls(
            shapes=tuple(Shape(**s) for s in data["shapes"]),
            image_size=int(data["image_size"]),
            seed=int(data["seed"]),
        )


def random_scene(seed: int) -> Scene:
    """The scene for `seed`: the same seed always gives the same scene and image."""
    rng = random.Random(seed)
    count = rng.randint(1, MAX_SHAPES)
    positions = rng.sample(list(POSITIONS), count)
    shapes = tuple(
        Shape(
            kind=rng.choice(KINDS),
            colour=rng.choice(list(COLOURS)),
            position=position,
            size=rng.choice(list(SIZES)),
        )
        for position in positions
    )
    return Scene(shapes=shapes, image_size=rng.randint(64, 128), seed=seed)


def _points(kind: str, cx: float, cy: float, r: float, turn: float) -> list[tuple[float, float]]:
    if kind == "triangle":
        angles = [turn - math.pi / 2 + k * 2 * math.pi / 3 for k in range(3)]
        return [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in angles]
    if kind == "star":
        points = []
        for k in range(10):
            radius = r if k % 2 == 0 else r * 0.45
            angle = turn - math.pi / 2 + k * math.pi / 5
            points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
        return points
    raise ValueError(kind)


def render(scene: Scene) -> Image.Image:
    """Draw the scene (RGB). Slight seeded jitter in place, size and background."""
    rng = random.Random(scene.seed * 7919 + 1)
    side = scene.image_size
    grey = rng.randint(20, 60)
    image = Image.new("RGB", (side, side), (grey, grey, grey))
    draw = ImageDraw.Draw(image)
    for shape in scene.shapes:
        fx, fy = POSITIONS[shape.position]
        cx = (fx + rng.uniform(-0.03, 0.03)) * side
        cy = (fy + rng.uniform(-0.03, 0.03)) * side
        r = SIZES[shape.size] * side * rng.uniform(0.9, 1.1)
        fill = COLOURS[shape.colour]
        box = (cx - r, cy - r, cx + r, cy + r)
        if shape.kind == "circle":
            draw.ellipse(box, fill=fill)
        elif shape.kind == "square":
            side_half = r * 0.85
            draw.rectangle(
                (cx - side_half, cy - side_half, cx + side_half, cy + side_half), fill=fill
            )
        else:
            draw.polygon(_points(shape.kind, cx, cy, r * 1.1, rng.uniform(-0.2, 0.2)), fill=fill)
    return image


def render_png(scene: Scene) -> bytes:
    buf = io.BytesIO()
    render(scene).save(buf, format="PNG")
    return buf.getvalue()
