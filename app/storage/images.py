"""Validate and normalise uploaded images before anything else sees them.

Re-encoding strips EXIF and other metadata, and gives identical pixels the same sha256 so
the same image is stored once.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import imagehash
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow's format name → (MIME type, the name people know). The upload form states these
# (app/web/uploads.py) from here, so what it says is what is enforced.
IMAGE_FORMATS = {
    "JPEG": ("image/jpeg", "JPEG"),
    "PNG": ("image/png", "PNG"),
    "WEBP": ("image/webp", "WebP"),
    "GIF": ("image/gif", "GIF"),
}
ALLOWED_FORMATS = set(IMAGE_FORMATS)
_names = [label for _, label in IMAGE_FORMATS.values()]
FORMATS_TEXT = ", ".join(_names[:-1]) + " or " + _names[-1]  # "JPEG, PNG, WebP or GIF"


class ImageRejected(ValueError):
    """The upload is not an acceptable image; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class NormalisedImage:
    data: bytes
    sha256: str
    phash: str
    width: int
    height: int
    mime: str = "image/png"


def normalise_image(raw: bytes, *, max_pixels: int, max_side: int) -> NormalisedImage:
    """Decode, check and re-encode as PNG (lossless, deterministic, metadata-free)."""
    if not raw:
        raise ImageRejected("The image file is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(raw))
            fmt = img.format
            if fmt not in ALLOWED_FORMATS:
                raise ImageRejected(
                    f"Unsupported image format {fmt or 'unknown'}: use {FORMATS_TEXT}.",
                    415,
                )
            w, h = img.size
            if w * h > max_pixels:
                raise ImageRejected(
                    f"The image is too large: {w}x{h} pixels (limit {max_pixels:,}).", 413
                )
            if w < 1 or h < 1:
                raise ImageRejected("The image has no pixels.")
            img.seek(0)  # GIF: first frame only
            img.load()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("The image is too large to decode safely.", 413) from exc
    except UnidentifiedImageError as exc:
        raise ImageRejected(f"The file is not an image: use {FORMATS_TEXT}.", 415) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected("The image file is damaged or truncated.") from exc

    img = ImageOps.exif_transpose(img)  # honour the camera's rotation before dropping EXIF
    if img.mode in ("RGBA", "LA", "P", "PA"):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    img = img.convert("RGB")
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=False)
    data = out.getvalue()
    return NormalisedImage(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        phash=str(imagehash.phash(img)),
        width=img.width,
        height=img.height,
    )
