"""Personal data in images: faces, and printed text whose OCR contains PII
(``app.release.pii_image``). Such an image's conversation is dropped, or with
``action="blur"`` released with those regions blurred."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

from app.release import pii_image
from app.release.cache import CacheView
from app.release.filters.base import FilterReport, ImageFilter, LoadBlob
from app.release.source import Conversation

Action = Literal["drop", "blur"]


class ImagePiiFilter(ImageFilter):
    name = "image_pii"
    version = pii_image.VERSION
    description = "the image shows a face or printed personal data (OCR)"

    def __init__(self, load_blob: LoadBlob, *, action: Action = "drop", faces: bool = True,
                 ocr: bool = True, cascade: Path | None = None) -> None:
        if action not in ("drop", "blur"):
            raise ValueError("image PII action is 'drop' or 'blur'")
        self.load_blob, self.action = load_blob, action
        self.faces, self.ocr, self.cascade = faces, ocr, cascade

    def params(self) -> dict[str, Any]:
        return {"action": self.action, "faces": self.faces, "ocr": self.ocr,
                "face_detector": f"OpenCV Haar cascade "
                                 f"{(self.cascade or pii_image.default_cascade()).name}",
                "ocr_engine": "rapidocr-onnxruntime (bundled PP-OCRv4 models)"}

    def load(self) -> None:
        if self.faces:
            pii_image.load_face_detector(self.cascade)
        if self.ocr:
            pii_image.load_ocr()

    def apply(self, conv: Conversation, cache: CacheView,
              report: FilterReport) -> Conversation | None:
        if not conv.image_sha256:
            return conv
        cached = cache.get(conv.image_sha256)
        if cached is None:
            found = pii_image.inspect_image(self.load_blob(conv.image_sha256), faces=self.faces,
                                            ocr=self.ocr, cascade=self.cascade)
            cache.put(conv.image_sha256, found.to_json())
        else:
            found = pii_image.ImageFindings.from_json(cached)
        if not found.has_pii:
            return conv
        report.details["faces"] += bool(found.faces)
        report.details["printed_pii"] += bool(found.pii_boxes)
        if self.action == "drop":
            return None
        report.changed += len(conv.sides)
        blurred = pii_image.blur_regions(self.load_blob(conv.image_sha256),
                                         (*found.faces, *found.pii_boxes))
        return dataclasses.replace(conv, image_bytes=blurred)
