"""Headline: on the real stack, the bench built from simulated battles ranks the demo
models as the arena does.

Simulated voters who know the truth battle the demo models (anonymous, so the votes make
the leaderboard); about 60 prompts of those battles become the bench; the candidates answer
it and the judge compares each answer with the anchor's twice. The bench must rank the
models in the order of their measured accuracy wherever that measurement can tell two
models apart (a two-proportion z-test at 95%: shapes-lite and shapes-small are 0.38 and 0.27
on their cards, and about 150 answers each sometimes measure them the other way round),
and at least 9 of the 10 pairs must be told apart; it must agree with the arena's leaderboard:
Spearman >= 0.9 and confidence agreement >= 0.9, each equal to the value computed here
independently from the two rankings. The `arena bench run` process is SIGKILLed midway and
started again: no verdict is made twice.

The judge is the trained demo judge `shapes-judge` and the candidates are the five demo
models of models.yaml (models/demo), each served by its own worker process.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from pathlib import Path

import httpx
import pytest

from app.demo.truth_check import JudgedBattle
from app.ranking.agreement import confidence_agreement, spearman
from tests.bench.conftest import private_database
from tests.bench.stack_flow import Flow

pytestmark = pytest.mark.timeout(1500)


def test_bench_tracks_the_arena(tmp_path: Path, redis_url: str, redis_prefix: str) -> None:
    battles = 360
    with private_database() as db:
        flow = Flow(tmp_path, db, redis_url, redis_prefix + "bench:", battles)
        try:
            flow.start()
            truth = flow.simulate()
            r = flow.cli("leaderboard", "--max-per-prompt", "100000", "--bootstrap", "200")
            assert r.returncode == 0, r.stderr
            r = flow.cli("bench", "build", "--n", "60", "--out", str(tmp_path / "benches"),
                         "--name", "b")
            assert r.returncode == 0, r.stderr
            bench = tmp_path / "benches" / "b"
            result = flow.run_bench(bench, kill_after=10)
            assert flow.stack is not None
            board = httpx.get(f"{flow.stack.url}/api/leaderboard", timeout=30).json()
            verdicts = asyncio.run(_verdict_rows(db))
        finally:
            flow.stop()
    # every verdict made once
    assert verdicts and all(attempts == 1 for attempts in verdicts)

    rows = result["score"]["rows"]
    bench_order = [r["model"] for r in rows]
    separated = separated_pairs(truth.battles)
    assert len(separated) >= 9, (separated, truth.accuracy())
    misordered = [(hi, lo) for hi, lo in separated
                  if bench_order.index(hi) > bench_order.index(lo)]
    assert not misordered, (bench_order, misordered, truth.accuracy())
    arena_iv = {r["model"]: (r["ci_lower"], r["ci_upper"], r["rating"])
                for r in board["rows"]}
    bench_iv = {r["model"]: (r["ci_lower"], r["ci_upper"], r["win_rate"]) for r in rows}
    a = result["agreement"]
    rho = spearman({m: v[2] for m, v in arena_iv.items()},
                   {m: v[2] for m, v in bench_iv.items()})
    ca = confidence_agreement(arena_iv, bench_iv)
    assert a["spearman"] == rho and a["confidence_agreement"] == ca
    assert rho is not None and rho >= 0.9
    assert ca is not None and ca >= 0.9
    assert result["score"]["unparsable"] <= 0.1 * result["score"]["games"]


def separated_pairs(battles: list[JudgedBattle]) -> list[tuple[str, str]]:
    """(better, worse) for each pair of models whose measured accuracies differ by a
    two-proportion z-test at 95%."""
    right: dict[str, list[int]] = {}
    for b in battles:
        for model, correct in ((b.model_a, b.correct_a), (b.model_b, b.correct_b)):
            right.setdefault(model, [0, 0])
            right[model][0] += correct
            right[model][1] += 1
    out = []
    for m1, m2 in itertools.combinations(sorted(right), 2):
        (k1, n1), (k2, n2) = right[m1], right[m2]
        pooled = (k1 + k2) / (n1 + n2)
        se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        z = (k1 / n1 - k2 / n2) / se if se else 0.0
        if abs(z) >= 1.96:
            out.append((m1, m2) if z > 0 else (m2, m1))
    return out


async def _verdict_rows(db: str) -> list[int]:
    import asyncpg

    conn = await asyncpg.connect(db.replace("+asyncpg", ""))
    try:
        return [r["attempts"] for r in await conn.fetch(
            "select attempts from judgments where task = 'bench-pairwise'")]
    finally:
        await conn.close()
