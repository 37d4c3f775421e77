"""Loading and running every moderation model never touches the network.

Runs in a fresh interpreter with empty HOME/cache directories, so nothing downloaded by an
earlier run can hide a download attempt.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = Path(__file__).with_name("offline_probe.py")
ROOT = Path(__file__).resolve().parents[2]


def test_first_use_makes_no_network_attempt(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "TMPDIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(
        [sys.executable, str(PROBE)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["control_seen"], "the network guard did not work"
    assert report["model_attempts"] == []
    assert report["image"] == "allow"
    assert report["text"]["language"] == "fr"
    assert report["text"]["pii_kinds"] == ["EMAIL_ADDRESS"]
    assert not list(tmp_path.rglob("*.bin")), "a model file was written at run time"
