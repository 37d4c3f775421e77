"""Prompt sets of a ratings job: an imported file, or the arena's own battles.

An imported file is JSON Lines (one object a line) or a JSON list, each prompt
``{"id": str, "prompt": str, "image": path}`` (``img_path`` is accepted for ``image``, as
VLFeedback writes it; a relative path is relative to the file). The whole file is checked
before anything is used: every problem is reported with its line (or index), and a file
with any bad row is refused as a whole, so an import never half-happens.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_PROMPTS = 100_000
MAX_PROMPT_CHARS = 8_000
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_ID_CHARS = 200
MAX_PROBLEMS_SHOWN = 20


class PromptFileError(ValueError):
    """A prompt file that can not be used; ``problems`` lists every bad row."""

    def __init__(self, path: Path, problems: list[str], rows: int = 0) -> None:
        self.path, self.problems, self.rows = path, problems, rows
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        super().__init__(
            f"{path}: {len(problems)} problem(s)"
            + (f" in {rows} row(s)" if rows else "") + "; nothing was imported:\n  "
            + "\n  ".join(shown) + (f"\n  ... and {more} more" if more > 0 else ""))


@dataclass(frozen=True)
class FeedbackPrompt:
    """One prompt to rate answers for. ``fixed``: answers that exist already, as (model,
    text), rated with the sampled models' (a battle's two sides, for agreement)."""

    id: str
    prompt: str
    image_sha256: str
    image_data: bytes | None = field(default=None, repr=False)
    battle_id: str | None = None
    fixed: tuple[tuple[str, str], ...] = ()


def _image(raw: Any, base: Path) -> tuple[bytes | None, str | None]:
    if not isinstance(raw, str) or not raw.strip():
        return None, "image must be a path (a non-empty string)"
    path = Path(raw)
    path = path if path.is_absolute() else base / path
    if not path.is_file():
        return None, f"image {raw!r} does not exist"
    size = path.stat().st_size
    if size == 0 or size > MAX_IMAGE_BYTES:
        return None, f"image {raw!r} is {size} bytes (1 to {MAX_IMAGE_BYTES} allowed)"
    data = path.read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError):
        return None, f"image {raw!r} is not a readable image"
    return data, None


def _prompt(obj: Any, base: Path) -> tuple[FeedbackPrompt | None, list[str]]:
    if not isinstance(obj, dict):
        return None, [f"must be an object with id, prompt and image, got {type(obj).__name__}"]
    problems = []
    unknown = set(obj) - {"id", "prompt", "image", "img_path"}
    if unknown:
        problems.append(f"unknown keys {sorted(unknown)}")
    pid = obj.get("id")
    if isinstance(pid, int) and not isinstance(pid, bool):
        pid = str(pid)
    if not isinstance(pid, str) or not pid.strip() or len(pid) > MAX_ID_CHARS:
        problems.append(f"id must be a non-empty string of at most {MAX_ID_CHARS} characters")
    text = obj.get("prompt")
    if not isinstance(text, str) or not text.strip():
        problems.append("prompt must be a non-empty string")
    elif len(text) > MAX_PROMPT_CHARS:
        problems.append(f"prompt is {len(text)} characters (at most {MAX_PROMPT_CHARS})")
    if "image" in obj and "img_path" in obj:
        problems.append("give image or img_path, not both")
    data, why = _image(obj.get("image", obj.get("img_path")), base)
    if why:
        problems.append(why)
    if problems or data is None:
        return None, problems
    return FeedbackPrompt(id=str(pid).strip(), prompt=str(text).strip(),
                          image_sha256=hashlib.sha256(data).hexdigest(), image_data=data), []


def _objects(path: Path, text: str) -> tuple[list[tuple[str, Any]], list[str]]:
    """(where, parsed object) per row, and the rows that are not JSON."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            return [], [f"not valid JSON: {exc}"]
        return [(f"item {i}", o) for i, o in enumerate(items)], []
    rows, bad = [], []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append((f"line {n}", json.loads(line)))
        except json.JSONDecodeError as exc:
            bad.append(f"line {n}: not valid JSON ({exc.msg})")
    return rows, bad


def load_prompt_file(path: Path) -> list[FeedbackPrompt]:
    """Every prompt of the file, or ``PromptFileError`` listing every bad row."""
    path = Path(path)
    if not path.is_file():
        raise PromptFileError(path, ["the file does not exist"])
    size = path.stat().st_size
    if size == 0:
        raise PromptFileError(path, ["the file is empty"])
    if size > MAX_FILE_BYTES:
        raise PromptFileError(path, [f"the file is {size} bytes (at most {MAX_FILE_BYTES})"])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PromptFileError(path, [f"not UTF-8 text ({exc})"]) from exc
    objects, problems = _objects(path, text)
    if len(objects) > MAX_PROMPTS:
        raise PromptFileError(path, [f"{len(objects)} prompts (at most {MAX_PROMPTS})"])
    prompts: list[FeedbackPrompt] = []
    seen: dict[str, str] = {}
    for where, obj in objects:
        prompt, why = _prompt(obj, path.parent)
        problems += [f"{where}: {w}" for w in why]
        if prompt is None:
            continue
        if prompt.id in seen:
            problems.append(f"{where}: id {prompt.id!r} repeats {seen[prompt.id]}")
            continue
        seen[prompt.id] = where
        prompts.append(prompt)
    if problems:
        raise PromptFileError(path, problems, rows=len(objects))
    if not prompts:
        raise PromptFileError(path, ["no prompts"])
    return prompts
