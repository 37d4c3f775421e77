"""Run releases in this process and print, per release, its time and the peak resident
memory seen while it ran (sampled every 20 ms from /proc/self/statm), as JSON lines. The
RSS test and benchmarks/bench_release.py run it in a fresh subprocess: the models load
once, and a release of a larger range that held more in memory would show a higher peak.

    python -m tests.release.release_probe DB_URL BLOB_DIR OUT_ROOT START/END [START/END ...]

With RELEASE_PROBE_OFFLINE=1, DNS and every non-loopback connection are refused and
recorded (the moderation test's guard, installed before anything loads) and the last line
reports them: every release filter must load and run offline.
"""

from __future__ import annotations

import os

if os.environ.get("RELEASE_PROBE_OFFLINE") == "1":
    from tests.moderation import offline_probe as network_guard
else:
    network_guard = None  # type: ignore[assignment]

import asyncio  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402

from app.db.session import make_engine, make_sessionmaker  # noqa: E402
from app.release.build import ReleaseParams, build_release  # noqa: E402
from app.storage.blobs import LocalBlobStore  # noqa: E402
from tests.release.traffic import MODELS, TERMS  # noqa: E402

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


class PeakRss:
    """The highest RSS sampled between start() and stop()."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            self._stop.wait(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


async def main(db_url: str, blobs: str, out_root: str, ranges: list[str]) -> None:
    engine = make_engine(db_url)
    sm = make_sessionmaker(engine)
    for k, span in enumerate(ranges):
        start, end = (datetime.fromisoformat(x) for x in span.split("/"))
        began = time.perf_counter()
        with PeakRss() as peak:
            result = await build_release(
                sm, LocalBlobStore(Path(blobs)).read_sync,
                ReleaseParams(start=start, end=end, out_dir=Path(out_root) / f"release-{k}",
                              terms_versions=(TERMS,),
                              identity_names={n: (n, *w) for n, w in MODELS.items()}))
        print(json.dumps({
            "range": span, "seconds": round(time.perf_counter() - began, 2),
            "rows": result.manifest["rows"], "peak_rss_mb": round(peak.peak / 2**20, 1),
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }), flush=True)
    await engine.dispose()
    if network_guard is not None:
        seen = list(network_guard.ATTEMPTS)
        with contextlib.suppress(OSError):  # control: the guard must see this one
            socket.getaddrinfo("example.com", 443)
        print(json.dumps({"network_attempts": seen,
                          "control_seen": len(network_guard.ATTEMPTS) > len(seen)}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]))
