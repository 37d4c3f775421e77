"""A full FIRE run on the real stack: PostgreSQL, Redis, the web app (registry), one worker
process per model, and `arena fire run` as a process.

The teacher is the FIRE demo's teacher shapes-fire-teacher (the demo judge fine-tuned to
score answers that do not answer as wrong: fire-teacher 97% on its card, 90% on such
answers, 0% leaks); the students are the feedback-trained shapes-fire-student and its untrained base
shapes-medium (same size), on the same held-out demo items. Dialogues stop at tau or N,
every turn is stored with its history, the feedback-trained student recovers more of its
wrong answers (RR) than the base, and the student's run, SIGKILLed midway and started
again, asks no model anything twice and stores no turn twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from app.config import REPO_ROOT
from tests.arena.stack import db_query, services_stack
from tests.bench.conftest import private_database
from tests.conftest import require_file

pytestmark = pytest.mark.timeout(900)
REGISTRY = REPO_ROOT / "models" / "fire-demo.yaml"
STUDENT, BASE, TEACHER = "shapes-fire-student", "shapes-medium", "shapes-fire-teacher"
ITEMS, TURNS, TAU = 40, 2, 8
ENV = {"ARENA_MODERATION_ENABLED": "false", "ARENA_RATE_LIMITS_ENABLED": "false",
       "ARENA_SWEEP_INTERVAL_S": "2", "ARENA_SWEEP_GRACE_S": "5"}


def _wait_live(env: dict[str, str], names: list[str], procs: Any, timeout: float = 240) -> None:
    """Every model (the judge too: it is not listed for battles) has a live worker."""
    from app.queue import make_queue

    async def live() -> set[str]:
        queue = make_queue(env["ARENA_REDIS_URL"], prefix=env["ARENA_REDIS_PREFIX"])
        try:
            return {n for n in names if await queue.live_workers(n)}
        finally:
            await queue.close()

    deadline = time.monotonic() + timeout
    while asyncio.run(live()) != set(names):
        assert time.monotonic() < deadline, "workers did not come up"
        for name, proc in procs.items():
            assert proc.poll() is None, f"{name} exited"
        time.sleep(0.5)


def _cli(env: dict[str, str], *args: str) -> list[str]:
    return [sys.executable, "-m", "arena_cli", "fire", *args]


def _run_args(student: str, out: Path) -> list[str]:
    return ["run", "--student", student, "--teacher", TEACHER, "--items", "demo", "--count",
            str(ITEMS), "--turns", str(TURNS), "--tau", str(TAU), "--timeout", "600",
            "--out", str(out)]


async def _turn_count(session: Any) -> int:
    from sqlalchemy import func, select

    from app.db.fire_tables import FireTurn

    return int(await session.scalar(select(func.count()).select_from(FireTurn)
                                    .where(FireTurn.score.is_not(None))))


async def _stored(session: Any, run_id: str) -> dict[str, Any]:
    """The run's dialogues with their turns, and every FIRE judgment (attempts, inputs)."""
    import uuid

    from sqlalchemy import select

    from app.db.judge_tables import Judgment
    from app.fire.runs import load_dialogues

    loaded = await load_dialogues(session, uuid.UUID(run_id))
    judgments = (await session.scalars(select(Judgment).where(
        Judgment.task.in_(["fire-student", "fire-teacher"])))).all()
    return {"dialogues": [(d.status, d.failure, [(t.turn, t.answer, t.score, t.feedback,
                                                  t.student_judgment_id, t.failure)
                                                 for t in turns]) for d, _, turns in loaded],
            "judgments": {j.id: (j.task, j.judge_model, j.attempts, j.status, j.inputs)
                          for j in judgments}}


def test_fire_run_on_the_real_stack(tmp_path: Path, redis_url: str, redis_prefix: str) -> None:
    for name in (STUDENT, BASE, TEACHER):
        require_file(REPO_ROOT / "models" / "demo" / name / "config.json", name,
                     "train it (README: FIRE)")
    with private_database() as db:
        data = tmp_path / "data"
        data.mkdir()
        stack = services_stack(db, redis_url, redis_prefix + "fire:", REGISTRY, data, **ENV)
        env = {**os.environ, **stack.env}
        try:
            stack.start_web()
            for m in (STUDENT, BASE, TEACHER):
                stack.start_worker(f"w-{m}", m)
            _wait_live(stack.env, [STUDENT, BASE, TEACHER], stack.procs)

            base = subprocess.run(_cli(env, *_run_args(BASE, tmp_path / "base.json")),
                                  cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                                  timeout=600)
            assert base.returncode == 0, base.stdout + base.stderr
            base_turns = db_query(db, _turn_count)

            # the student's run, killed once some of its turns are scored, then resumed
            args = _cli(env, *_run_args(STUDENT, tmp_path / "student.json"))
            proc = subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
            deadline = time.monotonic() + 600
            while db_query(db, _turn_count) < base_turns + ITEMS // 2:
                assert proc.poll() is None, "the student's run ended before it was killed"
                assert time.monotonic() < deadline
                time.sleep(0.3)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
            done = subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                                  timeout=600)
            assert done.returncode == 0, done.stdout + done.stderr
            assert "FIRE free dialogues" in done.stdout and "per question kind" in done.stdout

            reports = {n: json.loads((tmp_path / f"{n}.json").read_text())
                       for n in ("base", "student")}
            stored = {n: db_query(db, lambda s, r=r: _stored(s, r["run"]))
                      for n, r in reports.items()}
        finally:
            stack.stop()

    judgments = stored["student"]["judgments"]
    for name, report in reports.items():
        dialogues = stored[name]["dialogues"]
        assert len(dialogues) == ITEMS == report["overall"]["dialogues"]
        for status, failure, turns in dialogues:
            assert [t[0] for t in turns] == list(range(len(turns)))  # contiguous, no repeat
            scores = [t[2] for t in turns if t[5] is None]
            assert status in ("reached", "exhausted", "failed"), status
            if status == "failed":
                assert failure
                continue
            assert all(t[1] for t in turns) and len(scores) == len(turns)
            assert all(s < TAU for s in scores[:-1])  # it stopped at the first score >= tau
            assert (scores[-1] >= TAU) == (status == "reached")
            if status == "exhausted":
                assert len(turns) == TURNS + 1
            for k, turn in enumerate(turns):  # each answer saw the dialogue before it
                task, model, _, _, inputs = judgments[turn[4]]
                want = [x for t in turns[:k] for x in (t[1], t[3])]
                assert (task, model, inputs.get("history", [])) == ("fire-student",
                                                                    report["student"], want)
    # nothing asked twice: one attempt per judgment, one student judgment per turn
    assert all(j[2] == 1 and j[3] == "done" for j in judgments.values())
    student_turns = [t for _, _, turns in stored["student"]["dialogues"] for t in turns]
    assert len({t[4] for t in student_turns}) == len(student_turns)

    s, b = reports["student"]["overall"], reports["base"]["overall"]
    assert s["failed"] == b["failed"] == 0
    assert s["rr_base"] >= 5 and b["rr_base"] >= 5
    assert s["rr"] > b["rr"], (s, b)
    assert s["adr"] > b["adr"], (s, b)
