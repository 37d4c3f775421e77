"""Putting a finished folder in place of another, so that readers never see half of one.

Every export (nightly export, release, VLFeedback/DPO, VL-RewardBench, trained models) is
written in a temporary sibling folder and swapped in here when complete.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path


def swap_in(tmp: Path, out: Path) -> None:
    """Rename the complete folder ``tmp`` to ``out``; an existing ``out`` is moved aside
    first and removed after, so ``out`` is either the old folder or the new one."""
    if out.exists():
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)
