"""The NSFW model scores plain synthetic images as safe and rejects non-images clearly."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from app.moderation.image_nsfw import UnreadableImageError, nsfw_probability
from tests.moderation.conftest import encode


@pytest.mark.parametrize("color", [(0, 0, 255), (255, 255, 255), (0, 128, 0)])
def test_plain_colour_squares_score_safe(color: tuple[int, int, int]) -> None:
    score = nsfw_probability(encode(Image.new("RGB", (256, 256), color)))
    assert 0.0 <= score < 0.2  # open_nsfw's authors: < 0.2 is safe


def test_noise_scores_safe(noise_image: bytes) -> None:
    assert nsfw_probability(noise_image) < 0.2


def test_bytes_and_pil_give_the_same_score(skin_square: bytes) -> None:
    from_bytes = nsfw_probability(skin_square)
    from_pil = nsfw_probability(Image.open(io.BytesIO(skin_square)))
    assert from_bytes == pytest.approx(from_pil, abs=1e-6)


def test_score_is_deterministic(skin_square: bytes) -> None:
    assert nsfw_probability(skin_square) == nsfw_probability(skin_square)


def test_skin_tone_scores_higher_than_blue(skin_square: bytes, blue_square: bytes) -> None:
    # The model reacts to skin colour; a sanity check that it is really running.
    assert nsfw_probability(skin_square) > nsfw_probability(blue_square) + 0.1


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"0" * 50])
def test_undecodable_bytes_raise_a_clear_error(data: bytes) -> None:
    with pytest.raises(UnreadableImageError):
        nsfw_probability(data)
