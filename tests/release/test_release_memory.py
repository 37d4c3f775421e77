"""Peak RSS of a release does not grow with the arena: a 1k- and then a 4k-conversation
release in one fresh subprocess (models loaded once) peak within a few MB of each other
(rows are streamed in batches; only the dedup counts grow, by bytes per conversation).
The subprocess runs with the network refused: every filter loads and runs offline."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from app.storage.blobs import LocalBlobStore
from tests.release import traffic as t

ROOT = Path(__file__).resolve().parents[2]
FIRST, SECOND = t.DAY + timedelta(days=4), t.DAY + timedelta(days=6)


async def test_peak_rss_is_flat_between_1k_and_4k(lb_sm, lb_pg_url: str,
                                                  tmp_path: Path) -> None:
    blobs = tmp_path / "blobs"
    store = t.write_blob_dir(blobs)
    small, images = t.bulk_traffic(1000, start=FIRST)
    large, _ = t.bulk_traffic(4000, start=SECOND)
    async with lb_sm() as session:
        await t.add_registry(session)
        visitors = await t.add_visitors(session, consented=20)
        await t.store_images(session, LocalBlobStore(blobs), images)
        await t.insert_conversations(session, visitors, [*small, *large])
    del store

    span = [f"{s.isoformat()}/{(s + timedelta(days=1)).isoformat()}" for s in (FIRST, SECOND)]
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "tests.release.release_probe", lb_pg_url,
                         str(blobs), str(tmp_path / "out"), *span],
        cwd=ROOT, capture_output=True, text=True, timeout=500, check=False,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path),
             "XDG_CACHE_HOME": str(tmp_path / "cache"), "TMPDIR": str(tmp_path),
             "PYTHONPATH": str(ROOT), "RELEASE_PROBE_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    *_, one, four, network = (json.loads(x) for x in done.stdout.strip().splitlines())
    # Every filter (Presidio, the names gazetteer, NSFW, faces, OCR) ran with no network.
    assert network == {"network_attempts": [], "control_seen": True}
    print(f"\nrelease peak RSS: 1k {one}, 4k {four}")
    assert one["rows"]["chat"] == 1900 and four["rows"]["chat"] == 7600
    # Flat: the 4k release (4x the rows, bytes and batches) peaks within 25 MB of the 1k.
    assert four["peak_rss_mb"] - one["peak_rss_mb"] < 25, (one, four)
