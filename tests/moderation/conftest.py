"""Shared fixtures: one warmed-up gate and a few synthetic images with known content."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from app.moderation import ModerationGate


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture(scope="session")
async def gate() -> ModerationGate:
    gate = ModerationGate()
    await gate.warm_up()
    return gate


@pytest.fixture(scope="session")
def blue_square() -> bytes:
    return encode(Image.new("RGB", (256, 256), (0, 0, 255)))


@pytest.fixture(scope="session")
def skin_square() -> bytes:
    """A flat skin-tone square: harmless, but the model's score is clearly above zero."""
    return encode(Image.new("RGB", (256, 256), (224, 172, 150)))


@pytest.fixture(scope="session")
def noise_image() -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(300, 400, 3), dtype=np.uint8)
    return encode(Image.fromarray(pixels), "JPEG")
