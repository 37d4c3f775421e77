"""The code version recorded with every snapshot and export (git describe, else the
package version). Computed once per process so one run never mixes two versions."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from importlib import metadata

from app.config import REPO_ROOT


@lru_cache
def code_version() -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--tags", "--dirty"], cwd=REPO_ROOT,
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        if out:
            return f"git:{out}"
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return f"vlm-arena {metadata.version('vlm-arena')}"
    except metadata.PackageNotFoundError:
        return "unknown"
