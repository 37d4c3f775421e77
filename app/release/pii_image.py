"""Personal data in images, offline: faces (OpenCV's Haar cascade, shipped in
``cv2.data``) and text whose OCR (RapidOCR's ONNX models, shipped in
``rapidocr_onnxruntime``) contains PII (``app.release.pii_text``). Also the blur that
replaces dropping where configured.

``CALLS`` counts detector and OCR runs, so a test can check that a re-release served
every image from the filter cache. Blocking: call from a thread.
"""

from __future__ import annotations

import io
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from app.release.errors import FilterUnavailable
from app.release.pii_text import find_spans

VERSION = 1
CALLS: Counter[str] = Counter()
Box = tuple[int, int, int, int]  # x, y, width, height
_lock = threading.Lock()
_models: dict[str, Any] = {}


def default_cascade() -> Path:
    try:
        import cv2
    except ImportError as exc:
        raise FilterUnavailable(f"the face detector needs opencv-python ({exc})") from exc
    return Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"


def load_face_detector(cascade: Path | None = None) -> Any:
    """The cascade classifier, loaded once per path; FilterUnavailable if it can't be."""
    path = Path(cascade) if cascade is not None else default_cascade()
    key = f"face:{path}"
    with _lock:
        if key not in _models:
            import cv2

            if not path.is_file():
                raise FilterUnavailable(f"face detector model not found: {path}")
            detector = cv2.CascadeClassifier(str(path))
            if detector.empty():
                raise FilterUnavailable(f"face detector model could not be loaded: {path}")
            _models[key] = detector
        return _models[key]


def load_ocr() -> Any:
    with _lock:
        if "ocr" not in _models:
            try:
                from rapidocr_onnxruntime import RapidOCR

                # "max": shrink large images to 960 px, never blow small ones up (the
                # default upscales every image to 736 px on its short side: seconds each).
                _models["ocr"] = RapidOCR(det_limit_side_len=960, det_limit_type="max")
            except Exception as exc:  # ImportError, a missing bundled model, onnxruntime
                raise FilterUnavailable(f"the OCR engine (rapidocr-onnxruntime) can not "
                                        f"run: {exc}") from exc
        return _models["ocr"]


@dataclass(frozen=True)
class ImageFindings:
    faces: tuple[Box, ...]
    pii_boxes: tuple[Box, ...]  # OCR lines whose text has PII
    pii_kinds: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"faces": [list(b) for b in self.faces],
                "pii_boxes": [list(b) for b in self.pii_boxes],
                "pii_kinds": list(self.pii_kinds)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImageFindings:
        return cls(tuple(tuple(b) for b in data["faces"]),  # type: ignore[misc]
                   tuple(tuple(b) for b in data["pii_boxes"]),  # type: ignore[misc]
                   tuple(data["pii_kinds"]))

    @property
    def has_pii(self) -> bool:
        return bool(self.faces or self.pii_boxes)


def _rgb(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def detect_faces(rgb: np.ndarray, cascade: Path | None = None) -> tuple[Box, ...]:
    import cv2

    detector = load_face_detector(cascade)
    CALLS["face"] += 1
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    side = max(24, min(gray.shape) // 20)
    found = detector.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5,
                                      minSize=(side, side))
    return tuple(sorted(tuple(int(v) for v in f) for f in found))  # type: ignore[misc]


def ocr_pii(rgb: np.ndarray) -> tuple[tuple[Box, ...], tuple[str, ...]]:
    """Boxes of OCR lines with PII, and the PII kinds found in them."""
    engine = load_ocr()
    CALLS["ocr"] += 1
    result, _ = engine(np.ascontiguousarray(rgb[:, :, ::-1]))
    boxes, kinds = [], []
    for points, text, _score in result or ():
        spans = find_spans(str(text))
        if spans:
            xs = [int(p[0]) for p in points]
            ys = [int(p[1]) for p in points]
            boxes.append((min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)))
            kinds += [s.kind for s in spans]
    return tuple(boxes), tuple(dict.fromkeys(kinds))


def inspect_image(data: bytes, *, faces: bool = True, ocr: bool = True,
                  cascade: Path | None = None) -> ImageFindings:
    rgb = _rgb(data)
    found = detect_faces(rgb, cascade) if faces else ()
    boxes, kinds = ocr_pii(rgb) if ocr else ((), ())
    return ImageFindings(found, boxes, kinds)


def blur_regions(data: bytes, boxes: tuple[Box, ...]) -> bytes:
    """The image with each box (grown by 10%) blurred beyond recognition, as PNG."""
    with Image.open(io.BytesIO(data)) as src:
        im = src.convert("RGB")
    for x, y, w, h in boxes:
        dx, dy = max(2, w // 10), max(2, h // 10)
        region = (max(0, x - dx), max(0, y - dy), min(im.width, x + w + dx),
                  min(im.height, y + h + dy))
        patch = im.crop(region)
        radius = max(8, max(patch.size) // 6)
        im.paste(patch.filter(ImageFilter.GaussianBlur(radius)), region[:2])
    out = io.BytesIO()
    im.save(out, format="PNG", optimize=False)
    return out.getvalue()
