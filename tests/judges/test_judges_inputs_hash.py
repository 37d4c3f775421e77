"""inputs_hash: stable (a golden value), insensitive to representation, sensitive to content."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from app.judges import ImageInput, inputs_hash, judgment_inputs_hash, load_template

PIXELS = b"\x89PNG pixels"
IMAGE = ImageInput.from_bytes(PIXELS)
BASE: dict[str, Any] = {"image": IMAGE, "question": "How many?", "answer_a": "3",
                        "answer_b": "Two"}


def test_golden_value_and_definition() -> None:
    digest = inputs_hash("bench-pairwise@1", BASE)
    payload = json.dumps(
        {"inputs": {"answer_a": "3", "answer_b": "Two",
                    "image": {"$image_sha256": hashlib.sha256(PIXELS).hexdigest()},
                    "question": "How many?"}, "template": "bench-pairwise@1"},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert digest == hashlib.sha256(payload.encode()).hexdigest()
    # frozen: a change here invalidates every stored judgment's idempotency key
    assert digest == "81d3fd7d913cea5db075303fb6dfc553982d3939b8398efae6e974a81239e612"


def test_representation_does_not_matter() -> None:
    h = inputs_hash("bench-pairwise@1", BASE)
    assert inputs_hash("bench-pairwise@1", dict(reversed(list(BASE.items())))) == h
    assert inputs_hash("bench-pairwise@1", BASE | {"image": PIXELS}) == h
    assert inputs_hash("bench-pairwise@1", BASE | {"image": bytearray(PIXELS)}) == h
    assert inputs_hash("bench-pairwise@1", BASE | {"image": ImageInput(IMAGE.sha256)}) == h
    assert inputs_hash("bench-pairwise@1", BASE | {"extra": None}) == h  # None = absent
    v = {"image": PIXELS, "question": "q", "answers": ["a", "b"]}
    assert inputs_hash("x@1", v) == inputs_hash("x@1", v | {"answers": ("a", "b")})


@pytest.mark.parametrize("change", [
    {"question": "How many? "}, {"answer_a": "Two"}, {"image": b"other pixels"},
    {"answer_b": "two"}, {"extra": ""},
])
def test_any_content_change_changes_the_hash(change: dict[str, Any]) -> None:
    assert inputs_hash("bench-pairwise@1", BASE | change) != inputs_hash("bench-pairwise@1", BASE)


def test_template_swapped_answers_and_order_matter() -> None:
    h = inputs_hash("bench-pairwise@1", BASE)
    assert inputs_hash("bench-pairwise@2", BASE) != h
    swapped = BASE | {"answer_a": BASE["answer_b"], "answer_b": BASE["answer_a"]}
    assert inputs_hash("bench-pairwise@1", swapped) != h
    assert inputs_hash("x@1", {"answers": ["a", "b"]}) != inputs_hash("x@1",
                                                                      {"answers": ["b", "a"]})


def test_checked_variant_and_bad_values() -> None:
    t = load_template("bench-pairwise@1")
    assert judgment_inputs_hash(t, BASE) == inputs_hash("bench-pairwise@1", BASE)
    with pytest.raises(ValueError, match="finite"):
        inputs_hash("x@1", {"t": float("nan")})
    with pytest.raises(TypeError, match="unhashable"):
        inputs_hash("x@1", {"t": object()})
    with pytest.raises(TypeError, match="template_id"):
        inputs_hash("", BASE)
    with pytest.raises(ValueError, match="64 lowercase hex"):
        ImageInput("ABC")
    with pytest.raises(ValueError, match="do not match"):
        ImageInput(IMAGE.sha256, data=b"different")
