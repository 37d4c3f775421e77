"""What the upload form says about images, from the settings and formats that enforce it."""

from __future__ import annotations

from dataclasses import dataclass

from app.config import Settings
from app.storage.images import FORMATS_TEXT, IMAGE_FORMATS


def _size_text(n: int) -> str:
    for unit, size in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


@dataclass(frozen=True)
class UploadRules:
    accept: str  # the file input's accept attribute: "image/jpeg,image/png,…"
    max_bytes: int
    max_pixels: int
    max_side: int

    @property
    def text(self) -> str:
        """One sentence for the form."""
        return (
            f"{FORMATS_TEXT}, up to {_size_text(self.max_bytes)} and "
            f"{self.max_pixels / 1e6:.3g} megapixels; larger than {self.max_side} px on its "
            "longest side is scaled down."
        )


def upload_rules(settings: Settings) -> UploadRules:
    return UploadRules(
        accept=",".join(mime for mime, _ in IMAGE_FORMATS.values()),
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_image_pixels,
        max_side=settings.max_image_side,
    )
