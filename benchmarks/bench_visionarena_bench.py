"""The full VisionArena-Bench run on the demo world: simulated battles, the leaderboard,
a 500-prompt bench, every demo model answering it and the judge comparing each answer with
the anchor's twice; prints and writes (JSON) the score, its agreement with the arena and
how long each step took.

    .venv/bin/python benchmarks/bench_visionarena_bench.py --battles 1500 --n 500

Needs the machine's PostgreSQL and Redis (a private database and key prefix are used and
removed). The candidates and the judge are those of models.yaml: the five demo models and
the demo judge models/demo/shapes-judge. Results: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.bench.conftest import private_database  # noqa: E402
from tests.bench.stack_flow import Flow  # noqa: E402
from tests.conftest import REDIS_URL  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--battles", type=int, default=1500)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="write the result JSON here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, private_database() as db:
        flow = Flow(Path(tmp), db, REDIS_URL, f"benchva:{uuid.uuid4().hex[:6]}:",
                    args.battles, seed=args.seed)
        try:
            flow.start()
            truth = flow.simulate()
            t = time.monotonic()
            r = flow.cli("leaderboard", "--max-per-prompt", "1000000", "--bootstrap", "200")
            assert r.returncode == 0, r.stderr
            flow.timings["leaderboard"] = time.monotonic() - t
            t = time.monotonic()
            r = flow.cli("bench", "build", "--n", str(args.n), "--out", f"{tmp}/benches",
                         "--name", "b", timeout=3600)
            assert r.returncode == 0, r.stderr
            flow.timings["bench_build"] = time.monotonic() - t
            bench = Path(tmp) / "benches" / "b"
            manifest = json.loads((bench / "manifest.json").read_text())
            result = flow.run_bench(bench)
        finally:
            flow.stop()
    report = {"judge": flow.judge,
              "models": flow.models, "battles": args.battles,
              "arena_accuracy": truth.accuracy(), "bench_counts": manifest["counts"],
              "embedders": manifest["embedders"], "timings_s": flow.timings,
              "score": result["score"], "agreement": result["agreement"]}
    text = json.dumps(report, indent=2, sort_keys=True)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
