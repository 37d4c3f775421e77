"""`arena release` on a large simulated arena: time and peak RSS.

Inserts N simulated conversations (80% anonymous battles, 10% side-by-side, 10% direct;
distinct prompts; images from a bank of --images PNGs) into a fresh PostgreSQL database,
then releases the range twice in one fresh subprocess (tests/release/release_probe.py):
cold (every filter runs) and again (verdicts from the filter cache, byte-identical
output). Prints a markdown table; results with machine and date: benchmarks/README.md.

Run: .venv/bin/python benchmarks/bench_release.py [--n 100000] [--images 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.db.migrate import upgrade  # noqa: E402
from app.db.session import make_engine, make_sessionmaker  # noqa: E402
from app.release.manifest import verify_manifest  # noqa: E402
from app.storage.blobs import LocalBlobStore  # noqa: E402
from tests.conftest import PG_ADMIN_URL, _pg_admin  # noqa: E402
from tests.release import traffic as t  # noqa: E402


async def fill(url: str, blobs: Path, n: int, images: int) -> float:
    engine = make_engine(url)
    sm = make_sessionmaker(engine)
    began = time.perf_counter()
    convs, bank = t.bulk_traffic(n, n_images=images, visitors=500)
    async with sm() as session:
        await t.add_registry(session)
        visitors = await t.add_visitors(session, consented=500)
        await t.store_images(session, LocalBlobStore(blobs), bank)
        await t.insert_conversations(session, visitors, convs)
    await engine.dispose()
    return time.perf_counter() - began


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--cold-only", action="store_true", help="skip the cached re-release")
    args = ap.parse_args()
    name = f"arena_bench_release_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+asyncpg://{PG_ADMIN_URL.split('://', 1)[1].rsplit('/', 1)[0]}/{name}"
    try:
        upgrade(url)
        with tempfile.TemporaryDirectory(prefix="bench-release-") as tmp:
            blobs = Path(tmp) / "blobs"
            insert_s = asyncio.run(fill(url, blobs, args.n, args.images))
            print(f"inserted {args.n} conversations in {insert_s:.1f} s", flush=True)
            end = t.DAY + timedelta(seconds=args.n + 1)
            span = f"{t.DAY.isoformat()}/{end.isoformat()}"
            done = subprocess.run(
                [sys.executable, "-m", "tests.release.release_probe", url, str(blobs),
                 str(Path(tmp) / "out"), span, *([] if args.cold_only else [span])],
                cwd=ROOT, capture_output=True, text=True, check=False,
                env={**os.environ, "OMP_NUM_THREADS": "1"})
            if done.returncode != 0:
                sys.exit(done.stderr[-4000:])
            results = [json.loads(x) for x in done.stdout.strip().splitlines()]
            out = Path(tmp) / "out"
            same = None if args.cold_only else (
                verify_manifest(out / "release-0")["files"]
                == verify_manifest(out / "release-1")["files"])
            size = sum(p.stat().st_size for p in (out / "release-0").rglob("*") if p.is_file())
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print(f"\n{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("| run | conversations | chat rows | battle rows | release MB | seconds | "
          "conversations/s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for label, r in zip(("cold (every filter runs)", "again (filter cache)"), results,
                        strict=False):
        print(f"| {label} | {args.n} | {r['rows']['chat']} | {r['rows']['battle']} | "
              f"{size / 2**20:.0f} | {r['seconds']:.0f} | {args.n / r['seconds']:.0f} | "
              f"{r['peak_rss_mb']:.0f} |")
    print(f"\nbyte-identical re-release: {same}")


if __name__ == "__main__":
    main()
