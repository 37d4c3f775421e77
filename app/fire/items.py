"""FIRE evaluation items: a question about an image with a ground truth.

Items come from the demo world (questions whose truth the shapes checker knows), from FIRE
test files (JSON, a list of ``{"id", "image", "raw": {"question", "groundtruth"}}``, image
paths relative to the file or to ``image_root``), or from an operator's item set stored
earlier. Reading a file checks every row before anything is written: a row with a missing
or empty field, an unreadable image or a repeated id is reported with its reason; the file
is refused unless the caller asked to skip bad rows (then the counts say what was left out).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_ITEMS = 50_000
MAX_TEXT = 4_000  # characters of a question or a ground truth
MAX_IMAGE_BYTES = 20 * 1024 * 1024
DEMO_SET = "demo"
DEMO_ITEM_SEED = 11  # demo items: held-out scenes, questions drawn with this seed


class ItemFileError(ValueError):
    """A FIRE file that can not be used; the message says why. Nothing was written."""


@dataclass(frozen=True)
class FireItem:
    """One item: an id unique in its set, the image (PNG/JPEG bytes), question, truth.
    `kind` is the demo's question kind (None for imported items)."""

    item_id: str
    image: bytes = field(repr=False)
    question: str
    ground_truth: str
    kind: str | None = None

    @property
    def image_sha256(self) -> str:
        return hashlib.sha256(self.image).hexdigest()


@dataclass
class ReadResult:
    items: list[FireItem]
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> rows
    examples: list[str] = field(default_factory=list)  # the first few problems, by row

    def summary(self) -> str:
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(self.skipped.items()))
        return f"{len(self.items)} items, {sum(self.skipped.values())} rows skipped" + (
            f" ({reasons})" if reasons else "")


def demo_items(count: int, seed: int = DEMO_ITEM_SEED) -> list[FireItem]:
    """`count` held-out shapes-world items (never a training scene of the demo models)."""
    from app.demo.evaluate import HELD_OUT_SEEDS, examples
    from app.demo.shapes import random_scene, render_png

    if not 1 <= count <= MAX_ITEMS:
        raise ItemFileError(f"the demo set takes 1..{MAX_ITEMS} items, not {count}")
    return [FireItem(f"demo-{e.scene_seed}-{e.question.kind}", render_png(random_scene(
        e.scene_seed)), e.question.text, e.answer, e.question.kind)
        for e in examples(HELD_OUT_SEEDS, count, seed=seed)]


def _text(raw: Any, name: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise _Bad(f"missing or empty {name}")
    if len(raw) > MAX_TEXT:
        raise _Bad(f"{name} over {MAX_TEXT} characters")
    return raw.strip()


class _Bad(ValueError):
    pass


def _image(raw: Any, root: Path) -> bytes:
    if not isinstance(raw, str) or not raw.strip():
        raise _Bad("missing or empty image")
    path = (root / raw).resolve()
    if not path.is_file():
        raise _Bad("image file not found")
    if path.stat().st_size > MAX_IMAGE_BYTES:
        raise _Bad("image over 20 MB")
    data = path.read_bytes()
    if not (data.startswith(b"\x89PNG") or data.startswith(b"\xff\xd8")):
        raise _Bad("image is not PNG or JPEG")
    return data


def parse_rows(rows: Any, image_root: Path) -> ReadResult:
    """Check FIRE rows; every good row becomes an item, every bad one a counted reason."""
    if not isinstance(rows, list):
        raise ItemFileError("a FIRE file is a JSON list of items "
                            '({"id", "image", "raw": {"question", "groundtruth"}})')
    if len(rows) > MAX_ITEMS:
        raise ItemFileError(f"{len(rows)} items: at most {MAX_ITEMS} per file")
    result = ReadResult([])
    seen: set[str] = set()
    for n, row in enumerate(rows, 1):
        try:
            if not isinstance(row, dict):
                raise _Bad("row is not an object")
            item_id = row.get("id")
            if isinstance(item_id, int) and not isinstance(item_id, bool):
                item_id = str(item_id)
            item_id = _text(item_id, "id")[:200]
            raw = row.get("raw")
            if not isinstance(raw, dict):
                raise _Bad("missing raw")
            question = _text(raw.get("question"), "raw.question")
            truth = _text(raw.get("groundtruth"), "raw.groundtruth")
            if item_id in seen:
                raise _Bad("repeated id")
            image = _image(row.get("image"), image_root)
        except _Bad as exc:
            result.skipped[str(exc)] += 1
            if len(result.examples) < 5:
                result.examples.append(f"row {n}: {exc}")
            continue
        seen.add(item_id)
        result.items.append(FireItem(item_id, image, question, truth))
    return result


def read_fire_file(path: Path, *, image_root: Path | None = None,
                   skip_bad: bool = False) -> ReadResult:
    """Items of a FIRE test file. Refused (ItemFileError) when it is not JSON, not a list,
    has no good row, or has a bad row and `skip_bad` is false."""
    path = Path(path)
    if not path.is_file():
        raise ItemFileError(f"{path}: no such file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ItemFileError(f"{path}: over {MAX_FILE_BYTES // 2**20} MB")
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ItemFileError(f"{path}: not a JSON file ({exc})") from exc
    result = parse_rows(rows, image_root or path.parent)
    if result.skipped and not skip_bad:
        raise ItemFileError(f"{path}: {result.summary()}; first problems: "
                            + "; ".join(result.examples)
                            + " (fix them, or pass --skip-bad to leave those rows out)")
    if not result.items:
        raise ItemFileError(f"{path}: no usable item ({result.summary()})")
    return result


def set_name_for(path: Path, items: Sequence[FireItem]) -> str:
    """A file's item set: its name plus a digest of its items, so that a changed file is a
    new set (and a run on it a new run) while the same file resumes its runs."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(json.dumps([item.item_id, item.image_sha256, item.question,
                                  item.ground_truth]).encode())
    return f"{Path(path).stem[:80]}-{digest.hexdigest()[:12]}"


def sample(items: Sequence[FireItem], count: int | None, seed: int = 0) -> list[FireItem]:
    if count is None or count >= len(items):
        return list(items)
    return random.Random(seed).sample(list(items), count)
