"""Uploads are checked and normalised before anything else sees them."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from app.storage.blobs import LocalBlobStore
from app.storage.images import ImageRejected, normalise_image

LIMITS = {"max_pixels": 4_000_000, "max_side": 512}


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_metadata_is_stripped_and_rotation_applied() -> None:
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise
    raw = encode(img, "JPEG", exif=exif.tobytes())
    out = normalise_image(raw, **LIMITS)
    assert b"SecretCam" not in out.data
    assert (out.width, out.height) == (20, 40)
    assert Image.open(io.BytesIO(out.data)).getexif() == {}


def test_same_pixels_same_key_and_different_pixels_different_key() -> None:
    red = Image.new("RGB", (30, 30), (200, 0, 0))
    a = normalise_image(encode(red, "PNG"), **LIMITS)
    b = normalise_image(encode(red, "WEBP", lossless=True), **LIMITS)
    c = normalise_image(encode(Image.new("RGB", (30, 30), (0, 0, 200)), "PNG"), **LIMITS)
    assert a.sha256 == b.sha256 != c.sha256
    assert len(a.phash) == 16


def test_alpha_is_flattened_on_white_and_big_images_shrink() -> None:
    rgba = Image.new("RGBA", (2000, 1000), (0, 0, 0, 0))
    out = normalise_image(encode(rgba, "PNG"), **LIMITS)
    img = Image.open(io.BytesIO(out.data))
    assert img.mode == "RGB" and img.getpixel((1, 1)) == (255, 255, 255)
    assert max(img.size) == 512 and img.size == (512, 256)


@pytest.mark.parametrize(
    ("raw", "status", "words"),
    [
        (b"", 422, "empty"),
        (b"GIF89a-nope", 415, "not an image"),
        (encode(Image.new("RGB", (200, 200), (9, 9, 9)), "PNG")[:300], 422, "damaged"),
        (b"%PDF-1.4 hello", 415, "not an image"),
        (encode(Image.new("RGB", (8, 8)), "BMP"), 415, "format"),
        (encode(Image.new("1", (3000, 3000)), "PNG"), 413, "too large"),
    ],
)
def test_bad_images_are_refused_with_a_reason(raw: bytes, status: int, words: str) -> None:
    with pytest.raises(ImageRejected) as info:
        normalise_image(raw, **LIMITS)
    assert info.value.status == status and words in info.value.message.lower()


async def test_blob_store_is_content_addressed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = LocalBlobStore(tmp_path)
    key = await store.put(b"hello")
    assert key == await store.put(b"hello")
    assert await store.get(key) == b"hello"
    assert len(list(tmp_path.rglob("*"))) == 3  # ab/, ab/cd/, the blob
    with pytest.raises(ValueError):
        await store.get("../../etc/passwd")
