"""The bench end to end on the real stack (uvicorn, Redis, worker processes, PostgreSQL),
shared by the headline test and benchmarks/bench_visionarena_bench.py.

Simulated visitors battle and vote (app/demo/truth_check.py, anonymous mode: their votes
make the leaderboard); `arena leaderboard` stores the snapshot; `arena bench build` curates
the bench from those battles; `arena bench run` answers and judges it (killed midway and
started again when asked). The registry is the repository's models.yaml: the five demo
answer models and the demo judge `shapes-judge`, each served by its own worker process.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.arena.registry import load_registry
from app.config import REPO_ROOT
from tests.arena.stack import ArenaStack, services_stack
from tests.conftest import require_file

JUDGE = "shapes-judge"
JUDGE_DIR = REPO_ROOT / "models" / "demo" / JUDGE
ENV = {"ARENA_MODERATION_ENABLED": "false", "ARENA_RATE_LIMITS_ENABLED": "false",
       "ARENA_MAX_GENERATIONS_IN_FLIGHT": "100", "ARENA_SWEEP_INTERVAL_S": "2",
       "ARENA_SWEEP_GRACE_S": "5"}


def demo_registry() -> tuple[list[str], str]:
    """The answer models and the judge of models.yaml; the judge ships with the repository,
    so its absence fails (in CI) instead of falling back to anything else."""
    require_file(JUDGE_DIR / "config.json", "the demo judge",
                 "train it: .venv/bin/python scripts/train_demo_judge.py")
    specs = load_registry(REPO_ROOT / "models.yaml")
    answers = [s.name for s in specs if s.role == "answer" and s.enabled]
    judges = [s.name for s in specs if s.role == "judge" and s.enabled]
    assert JUDGE in judges and len(answers) >= 5, (answers, judges)
    return answers, JUDGE


@dataclass
class Flow:
    tmp: Path
    db_url: str
    redis_url: str
    prefix: str
    battles: int
    seed: int = 0
    stack: ArenaStack | None = None
    judge: str = ""
    models: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def start(self) -> None:
        self.models, self.judge = demo_registry()
        registry = REPO_ROOT / "models.yaml"
        data = self.tmp / "data"
        data.mkdir(exist_ok=True)
        self.stack = services_stack(self.db_url, self.redis_url, self.prefix, registry, data,
                                    **ENV)
        self.stack.start_web()
        for m in [*self.models, self.judge]:
            self.stack.start_worker(f"w-{m}", m)
        self.stack.wait_models_online(self.models)

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.stop()

    def cli(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        assert self.stack is not None
        return subprocess.run([sys.executable, "-m", "arena_cli", *args], cwd=REPO_ROOT,
                              env={**os.environ, **self.stack.env}, capture_output=True,
                              text=True, timeout=timeout)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        assert self.stack is not None
        return subprocess.Popen([sys.executable, "-m", "arena_cli", *args], cwd=REPO_ROOT,
                                env={**os.environ, **self.stack.env},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                text=True, start_new_session=True)

    def simulate(self) -> Any:
        from app.demo.truth_check import run_truth_check

        assert self.stack is not None
        t = time.monotonic()
        result = asyncio.run(run_truth_check(self.stack.url, battles=self.battles,
                                             concurrency=8, mode="anonymous", seed=self.seed,
                                             bootstrap=100))
        self.timings["battles"] = time.monotonic() - t
        return result

    def run_args(self, bench: Path) -> list[str]:
        anchor = sorted(self.models)[len(self.models) // 2]
        return ["bench", "run", "--bench", str(bench), "--models", ",".join(self.models),
                "--anchor", anchor, "--judge", self.judge, "--bootstrap", "200",
                "--timeout", "1200"]

    def judged_count(self) -> int:
        import asyncpg

        async def q() -> int:
            conn = await asyncpg.connect(self.db_url.replace("+asyncpg", ""))
            try:
                return int(await conn.fetchval(
                    "select count(*) from judgments where task = 'bench-pairwise' "
                    "and status = 'done'"))
            finally:
                await conn.close()

        return asyncio.run(q())

    def run_bench(self, bench: Path, kill_after: int | None = None) -> dict[str, Any]:
        """`arena bench run`; with ``kill_after``, SIGKILL it once that many verdicts are
        in, then start it again."""
        t = time.monotonic()
        args = self.run_args(bench)
        if kill_after is not None:
            proc = self.popen(*args)
            deadline = time.monotonic() + 900
            while self.judged_count() < kill_after:
                assert proc.poll() is None, "bench run ended before it could be killed"
                assert time.monotonic() < deadline
                time.sleep(0.2)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
            self.timings["killed_after_s"] = time.monotonic() - t
        done = self.cli(*args, timeout=1500)
        assert done.returncode == 0, done.stdout + done.stderr
        self.timings["bench_run"] = time.monotonic() - t
        files = sorted((bench / "results").glob("*.json"))
        assert files, done.stdout
        return json.loads(files[0].read_text())


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
