"""Judge inputs: images by content hash, and the stable hash of a judgment's inputs.

The hash is part of a judgment's idempotency key (task, template@version, judge, inputs
hash, repetition), so it must not change between runs, processes or library versions:
canonical JSON (sorted keys, no spaces, UTF-8, no NaN) with every image replaced by its
sha256, so the same picture hashes the same whether given as bytes or as a reference.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ImageInput:
    """An image for a judge: its sha256 plus, where the caller has them, bytes or a path."""

    sha256: str
    data: bytes | None = field(default=None, repr=False)
    mime: str | None = None
    path: str | None = None

    def __post_init__(self) -> None:
        if not _SHA256_RE.match(self.sha256):
            raise ValueError(f"image sha256 must be 64 lowercase hex digits: {self.sha256!r}")
        if self.data is not None and hashlib.sha256(self.data).hexdigest() != self.sha256:
            raise ValueError("image bytes do not match their sha256")

    @classmethod
    def from_bytes(cls, data: bytes, mime: str | None = None) -> ImageInput:
        return cls(hashlib.sha256(data).hexdigest(), bytes(data), mime)


def is_image(value: object) -> bool:
    """Bytes, or anything with a ``sha256`` attribute (an ``ImageInput``, a stored image)."""
    return isinstance(value, bytes | bytearray | memoryview) or isinstance(
        getattr(value, "sha256", None), str)


def image_sha256(value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return hashlib.sha256(value).hexdigest()
    digest = getattr(value, "sha256", None)
    if not isinstance(digest, str) or not _SHA256_RE.match(digest):
        raise TypeError(f"not an image (bytes or an object with a sha256): {type(value)!r}")
    return digest


def _canonical(value: Any, where: str) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"input {where} is not finite")
        return value
    if is_image(value):
        return {"$image_sha256": image_sha256(value)}
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"input {where} has non-string keys")
        return {k: _canonical(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, Sequence):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"input {where} has an unhashable type {type(value).__name__}")


def canonical_inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-ready inputs: images as ``{"$image_sha256": ...}``; top-level ``None`` dropped
    (an absent optional input and one given as ``None`` are the same input)."""
    return {k: _canonical(v, k) for k, v in inputs.items() if v is not None}


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def inputs_hash(template_id: str, inputs: Mapping[str, Any]) -> str:
    """sha256 (hex) of ``{"inputs": canonical inputs, "template": template_id}``."""
    if not isinstance(template_id, str) or not template_id:
        raise TypeError("template_id must be a non-empty string such as 'bench-pairwise@1'")
    payload = canonical_json({"inputs": canonical_inputs(inputs), "template": template_id})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
