"""VL-RewardBench files: read them (JSON or JSONL) and write the arena's battles as one.

A row has ``id, query, response (two strings), human_ranking ([0, 1] or [1, 0])`` and an
image: ``image_path`` (relative to the file, as the reference code's ``images/<dataset>/``)
or ``image`` (a relative path, a ``data:`` URL or base64). ``models``, ``meta``,
``ground_truth`` and the rest are kept. A row that does not qualify is skipped and
counted by reason; a file that can not be read at all is an error. Reading writes nothing.

Writing (`write_items`) makes the folder in a temporary sibling and renames it into place,
so a failed export leaves nothing: ``data.jsonl`` plus ``images/<source>/<sha256>.<ext>``
(or the images embedded as data URLs), loadable with
``datasets.load_dataset("json", data_files=".../data.jsonl")``.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.judges.inputs import ImageInput
from app.rewardbench.items import RewardItem, source_of
from app.storage.folders import swap_in

REQUIRED = ("id", "query", "response", "human_ranking")
DATA_FILE = "data.jsonl"
MAX_FILE_BYTES = 2 * 1024**3
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif", "BMP": "bmp"}


class RewardFileError(ValueError):
    """A file that can not be read as VL-RewardBench data; nothing was read from it."""


@dataclass
class Loaded:
    """The items of a file and what was skipped (reason -> count, first examples)."""

    items: list[RewardItem] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def skip(self, row: int, reason: str) -> None:
        self.skipped[reason.split(":")[0]] += 1
        if len(self.examples) < 10:
            self.examples.append(f"row {row}: {reason}")

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())


def _rows(path: Path) -> list[Any]:
    if not path.is_file():
        raise RewardFileError(f"{path}: no such file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise RewardFileError(f"{path}: larger than {MAX_FILE_BYTES // 1024**3} GB")
    text = path.read_text(encoding="utf-8", errors="strict")
    if not text.strip():
        raise RewardFileError(f"{path}: the file is empty")
    if path.suffix.lower() == ".jsonl":
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise RewardFileError(f"{path}: line {n} is not JSON ({exc.msg})") from None
        return rows
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RewardFileError(f"{path}: not JSON ({exc.msg}, line {exc.lineno}); JSON "
                              "Lines files must end in .jsonl") from None
    if isinstance(data, Mapping) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise RewardFileError(f"{path}: expected a list of rows (or {{\"data\": [...]}})")
    return data


def image_format(data: bytes) -> str:
    """The picture's format (PNG, JPEG, ...); ValueError if it is not a readable image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
            fmt = str(im.format)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"not a readable image: {exc}") from None
    if fmt not in EXTENSIONS:
        raise ValueError(f"not a readable image: unsupported format {fmt}")
    return fmt


_IMAGE_NAME = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")


def _image_bytes(value: str, base: Path) -> bytes:
    """A path relative to the file, a ``data:`` URL, or bare base64."""
    if value.startswith("data:"):
        header, _, payload = value.partition(",")
        if ";base64" not in header:
            raise ValueError("image not decodable: a data URL must be base64")
        value = payload
    else:
        if len(value) < 1024:
            path = base / value
            if path.is_file():
                return path.read_bytes()
        if value.lower().endswith(_IMAGE_NAME) or len(value) < 64:
            raise ValueError(f"image does not exist: {value[:200]}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("image not decodable: neither a file nor base64") from None


def _texts(value: Any, n: int) -> tuple[str, ...] | None:
    if (isinstance(value, list | tuple) and len(value) == n
            and all(isinstance(v, str) for v in value)):
        return tuple(value)
    return None


def parse_row(row: Any, base: Path) -> RewardItem:
    """One row as an item; ValueError says why it does not qualify."""
    if not isinstance(row, Mapping):
        raise ValueError("not an object")
    missing = [k for k in REQUIRED if k not in row or row[k] in (None, "")]
    if "image" not in row and "image_path" not in row:
        missing.append("image or image_path")
    if missing:
        raise ValueError(f"missing fields: {', '.join(missing)}")
    if not isinstance(row["id"], str | int) or not isinstance(row["query"], str):
        raise ValueError("wrong type: id must be a string and query a string")
    responses = _texts(row["response"], 2)
    if responses is None or not all(r.strip() for r in responses):
        raise ValueError("wrong type: response must be two non-empty strings")
    ranking = row["human_ranking"]
    if not (isinstance(ranking, list) and sorted(ranking) == [0, 1]
            and all(type(r) is int for r in ranking)):
        raise ValueError("wrong type: human_ranking must be [0, 1] or [1, 0]")
    image_value = row.get("image") or row.get("image_path")
    if not isinstance(image_value, str):
        raise ValueError("wrong type: image must be a path, a data URL or base64")
    data = _image_bytes(image_value, base)
    image_format(data)
    models = _texts(row.get("models"), 2) or ("", "")
    meta = row.get("meta") if isinstance(row.get("meta"), Mapping) else {}
    known = {*REQUIRED, "image", "image_path", "models", "meta", "ground_truth"}
    extra = {k: v for k, v in row.items() if k not in known}
    image_path = row.get("image_path") if isinstance(row.get("image_path"), str) else None
    gt = row.get("ground_truth")
    return RewardItem(
        id=str(row["id"]), query=row["query"], image=ImageInput.from_bytes(data),
        responses=(responses[0], responses[1]), human_ranking=(ranking[0], ranking[1]),
        models=(models[0], models[1]), source=source_of(str(row["id"]), image_path),
        meta={**meta, **({"extra": extra} if extra else {})},
        ground_truth=gt if isinstance(gt, str) else None)


def load_file(path: Path) -> Loaded:
    """Every qualifying row of a VL-RewardBench file; the others counted by reason.
    Repeated items (same id, query, responses and image) are kept once."""
    path = Path(path)
    out = Loaded()
    seen: set[str] = set()
    for n, row in enumerate(_rows(path), 1):
        try:
            item = parse_row(row, path.parent)
        except ValueError as exc:
            out.skip(n, str(exc))
            continue
        if item.key in seen:
            out.skip(n, f"repeated: item {item.id} appears again")
            continue
        seen.add(item.key)
        out.items.append(item)
    return out


# ------------------------------------------------------------------------------ writing

def row_of(item: RewardItem, image: str | None, image_path: str | None) -> dict[str, Any]:
    """The VL-RewardBench row of an item (``image`` embedded, or ``image_path`` beside)."""
    return {
        "id": item.id, "query": item.query, "response": list(item.responses),
        "human_ranking": list(item.human_ranking), "models": list(item.models),
        "judge": "human", "rationale": None, "query_source": item.source,
        "image_path": image_path, "image": image, "ground_truth": item.ground_truth,
        "meta": dict(item.meta),
    }


def write_items(items: Iterable[RewardItem], out: Path,
                image_bytes: Callable[[RewardItem], bytes], *, embed: bool = False) -> int:
    """Write ``out/data.jsonl`` (and the images beside it unless ``embed``); ``out`` must
    not exist or be empty. Returns the number of rows."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RewardFileError(f"{out}: exists and is not an empty folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        count = 0
        with (tmp / DATA_FILE).open("w", encoding="utf-8") as f:
            for item in items:
                data = image_bytes(item)
                ext = EXTENSIONS[image_format(data)]
                image = image_path = None
                if embed:
                    image = f"data:image/{ext};base64,{base64.b64encode(data).decode()}"
                else:
                    image_path = f"images/{item.source}/{item.image.sha256}.{ext}"
                    target = tmp / image_path
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                f.write(json.dumps(row_of(item, image, image_path), ensure_ascii=False) + "\n")
                count += 1
        swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return count
