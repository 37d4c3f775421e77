"""The bench as a versioned, exportable file set, and reading it back.

```
<bench dir>/
  manifest.json      format, version, parameters, embedders, counts, sha256 of every file
  questions.jsonl    Arena-Hard's question format, one question per line, plus its image:
                     {"question_id", "category", "cluster", "turns": [{"content"}],
                      "image_sha256", "image_path"}
  images/<sha256>.<ext>
  results/           scores written by `arena bench run` (not part of the version)
```

The version is the hash of questions.jsonl, which names every image by sha256: two builds
that chose the same questions are the same bench, wherever they ran. No file holds a clock
time, so building again from the same data with the same seed writes the same bytes. The
folder is written beside its final place and renamed in, so no reader sees half a bench.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "visionarena-bench/1"
CATEGORY = "visionarena-bench"
RESULTS = "results"


class BenchFileError(ValueError):
    """A folder that is not a readable bench (missing files, altered contents)."""


@dataclass(frozen=True)
class BenchQuestion:
    question_id: str
    prompt: str
    image_sha256: str
    cluster: int
    category: str = CATEGORY

    def as_json(self, image_path: str) -> dict[str, Any]:
        return {"question_id": self.question_id, "category": self.category,
                "cluster": self.cluster, "turns": [{"content": self.prompt}],
                "image_sha256": self.image_sha256, "image_path": image_path}


@dataclass(frozen=True)
class Bench:
    path: Path
    version: str
    manifest: dict[str, Any]
    questions: tuple[BenchQuestion, ...]

    def image_path(self, sha256: str) -> Path:
        return self.path / self.manifest["images"][sha256]

    def image_bytes(self, sha256: str) -> bytes:
        return self.image_path(sha256).read_bytes()


def image_extension(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "png"
    if data.startswith(b"\xff\xd8"):
        return "jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:3] == b"GIF":
        return "gif"
    return "bin"


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def questions_jsonl(questions: Sequence[BenchQuestion], paths: Mapping[str, str]) -> bytes:
    return b"".join(
        (json.dumps(q.as_json(paths[q.image_sha256]), sort_keys=True, ensure_ascii=False)
         + "\n").encode()
        for q in questions)


def bench_version(jsonl: bytes) -> str:
    return "vab-" + sha256_bytes(jsonl)[:12]


def write_bench(out_root: Path, questions: Sequence[BenchQuestion],
                images: Mapping[str, bytes], info: Mapping[str, Any],
                *, folder: str | None = None) -> Bench:
    """Write ``out_root/<version>/`` (or ``out_root/<folder>``) and return it read back.
    ``info`` (parameters, embedders, counts) goes into the manifest as it is."""
    if not questions:
        raise BenchFileError("a bench needs at least one question")
    paths = {}
    for q in questions:
        data = images.get(q.image_sha256)
        if data is None:
            raise BenchFileError(f"image {q.image_sha256} of question {q.question_id} "
                                 "is missing")
        if sha256_bytes(data) != q.image_sha256:
            raise BenchFileError(f"image {q.image_sha256}: bytes do not match the hash")
        paths[q.image_sha256] = f"images/{q.image_sha256}.{image_extension(data)}"
    jsonl = questions_jsonl(questions, paths)
    version = bench_version(jsonl)
    out_root.mkdir(parents=True, exist_ok=True)
    final = out_root / (folder or version)
    tmp = out_root / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "images").mkdir(parents=True)
    (tmp / "questions.jsonl").write_bytes(jsonl)
    for sha, rel in sorted(paths.items()):
        (tmp / rel).write_bytes(images[sha])
    files = {str(p.relative_to(tmp)): {"sha256": sha256_bytes(p.read_bytes()),
                                        "bytes": p.stat().st_size}
             for p in sorted(tmp.rglob("*")) if p.is_file()}
    manifest = {"format": FORMAT, "version": version, "category": CATEGORY,
                "questions": len(questions), "images": dict(sorted(paths.items())),
                **dict(info), "files": files}
    (tmp / "manifest.json").write_bytes(_json(manifest))
    if final.exists():
        kept = final / RESULTS
        if kept.is_dir():  # earlier scores of this bench stay with it
            shutil.move(str(kept), str(tmp / RESULTS))
        old = out_root / f".{final.name}.old-{os.getpid()}"
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(final)
    return load_bench(final)


def load_bench(path: Path, *, verify: bool = True) -> Bench:
    """Read a bench folder; with ``verify`` every listed file must match its sha256."""
    path = Path(path)
    manifest_file = path / "manifest.json"
    if not manifest_file.is_file():
        raise BenchFileError(f"{path} is not a bench: manifest.json is missing "
                             "(build one with `arena bench build`)")
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BenchFileError(f"{manifest_file}: not valid JSON ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise BenchFileError(f"{manifest_file}: format {manifest.get('format')!r} is not "
                             f"{FORMAT!r}")
    if verify:
        for rel, meta in manifest.get("files", {}).items():
            f = path / rel
            if not f.is_file():
                raise BenchFileError(f"{path}: {rel} is missing")
            if sha256_bytes(f.read_bytes()) != meta["sha256"]:
                raise BenchFileError(f"{path}: {rel} does not match its sha256 in the manifest")
    jsonl = (path / "questions.jsonl").read_bytes()
    if bench_version(jsonl) != manifest.get("version"):
        raise BenchFileError(f"{path}: questions.jsonl is not version {manifest.get('version')}")
    questions = []
    for n, line in enumerate(jsonl.decode("utf-8").splitlines(), 1):
        try:
            row = json.loads(line)
            questions.append(BenchQuestion(
                str(row["question_id"]), str(row["turns"][0]["content"]),
                str(row["image_sha256"]), int(row["cluster"]), str(row["category"])))
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise BenchFileError(f"{path}/questions.jsonl line {n}: {exc!r}") from exc
    return Bench(path, str(manifest["version"]), manifest, tuple(questions))
