"""Writing an export folder all at once, and what it returns.

Files, shards, cards and manifests are app/release's (one machinery for every export);
this module only adds what the feedback exports need besides: a folder written under a
temporary name beside the target and renamed when complete, so that a failed export leaves
nothing that looks like a dataset.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.storage.folders import swap_in


class ExportError(ValueError):
    """An export that can not be written; the message says why. Nothing was written."""


@dataclass(frozen=True)
class Manifest:
    """An export's manifest (as written to ``manifest.json`` by app/release)."""

    rows: int
    counts: dict[str, Any]
    files: dict[str, dict[str, Any]]
    data: dict[str, Any]

    @classmethod
    def of(cls, written: dict[str, Any]) -> Manifest:
        return cls(int(written["rows"]), dict(written.get("counts", {})),
                   dict(written["files"]), written)


@contextlib.contextmanager
def staged_folder(folder: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """A fresh temporary folder that becomes ``folder`` when the block succeeds. A target
    that exists and is not empty is refused unless ``overwrite`` (then replaced whole)."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())) and not overwrite:
        raise ExportError(f"{folder} exists and is not empty: choose another folder or "
                          "overwrite it")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    swap_in(tmp, folder)
