"""The manifest of a release folder: the sha256 and size of every file, and what made it
(code and library versions, filter versions and parameters, row counts).

Written last, over the finished folder; ``verify_manifest`` is what a consumer (or a
re-release check) runs. JSON with sorted keys and no wall-clock time, so the same release
gives the same manifest bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


def json_bytes(value: Any) -> bytes:
    """Canonical JSON bytes (sorted keys, 2-space indent, trailing newline)."""
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def library_versions(*names: str) -> dict[str, str]:
    """Installed versions of the libraries whose output is in the files (byte identity
    holds for the same versions)."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def file_entries(root: Path) -> dict[str, dict[str, Any]]:
    """``relative path -> {sha256, bytes}`` for every file under ``root`` but the manifest
    itself and hidden files (partial shards, temporary files)."""
    root = Path(root)
    return {
        str(p.relative_to(root)): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MANIFEST
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


def write_manifest(root: Path, meta: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``root/manifest.json``: ``meta`` plus ``files``; returns it."""
    if "files" in meta:
        raise ValueError("'files' is computed by write_manifest")
    manifest = {**meta, "files": file_entries(root)}
    (Path(root) / MANIFEST).write_bytes(json_bytes(manifest))
    return manifest


class ManifestMismatch(ValueError):
    """A file is missing, extra or differs from the manifest."""


def verify_manifest(root: Path) -> dict[str, Any]:
    """Check every file against the manifest; returns the manifest or raises."""
    manifest = json.loads((Path(root) / MANIFEST).read_text())
    actual = file_entries(root)
    listed = manifest["files"]
    problems = [f"missing: {p}" for p in sorted(set(listed) - set(actual))]
    problems += [f"not in the manifest: {p}" for p in sorted(set(actual) - set(listed))]
    problems += [f"changed: {p}" for p in sorted(set(listed) & set(actual))
                 if listed[p] != actual[p]]
    if problems:
        raise ManifestMismatch("; ".join(problems))
    return manifest
