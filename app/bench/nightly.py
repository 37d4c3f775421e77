"""The bench's nightly part: answer and judge the models that are new since the latest
result, recompute the agreement with the arena, and the bench's files for the export.

It rebuilds nothing: a bench is a fixed question set (a new one is `arena bench build`'s
decision, an operator's). For each bench version, the latest stored result says how it was
run (anchor, judge, templates, seed, models); models that are in the registry now, answer
battles, are enabled and have a live worker, but are not in it, are added. Re-running with
the old models as well costs nothing: their answers and verdicts exist and are adopted.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bench.files import BenchFileError, load_bench
from app.bench.runner import (
    BenchRunError,
    RunParams,
    arena_agreement,
    intervals_from_json,
    run_bench,
)
from app.bench.score import arena_intervals, bench_agreement
from app.db.bench_tables import BenchResult
from app.db.models import ModelEntry
from app.queue import JobQueue
from app.storage.blobs import LocalBlobStore

log = logging.getLogger("arena.bench")


@dataclass(frozen=True)
class NightlyOutcome:
    bench_version: str
    status: str  # scored | agreement | unchanged | skipped
    new_models: tuple[str, ...] = ()
    note: str = ""


async def latest_results(session: AsyncSession) -> list[BenchResult]:
    """The newest result of every bench version (newest first)."""
    rows = (await session.scalars(
        select(BenchResult).order_by(BenchResult.created_at.desc(), BenchResult.id))).all()
    await session.commit()
    seen: dict[str, BenchResult] = {}
    for r in rows:
        seen.setdefault(r.bench_version, r)
    return list(seen.values())


async def new_models(session: AsyncSession, queue: JobQueue, result: BenchResult) -> list[str]:
    """Answer models, enabled, with a live worker, that the result does not include."""
    known = {*result.models, result.anchor, result.judge}
    names = (await session.scalars(select(ModelEntry.name).where(
        ModelEntry.role == "answer", ModelEntry.enabled.is_(True)).order_by(
        ModelEntry.name))).all()
    await session.commit()
    return [n for n in names if n not in known and await queue.live_workers(n)]


async def run_nightly(sessionmaker: async_sessionmaker, queue: JobQueue,
                      blobs: LocalBlobStore, *, timeout_s: float | None = None
                      ) -> list[NightlyOutcome]:
    out = []
    async with sessionmaker() as session:
        results = await latest_results(session)
    for result in results:
        async with sessionmaker() as session:
            added = await new_models(session, queue, result)
        if added:
            try:
                bench = load_bench(Path(result.bench_path))
                params = RunParams(
                    models=(*result.models, *added), anchor=result.anchor, judge=result.judge,
                    answer_template=result.answer_template,
                    judge_template=result.judge_template, seed=result.seed,
                    n_bootstrap=int(result.score.get("n_bootstrap", 100)),
                    timeout_s=timeout_s)
                await run_bench(sessionmaker, queue, blobs, bench, params, source="nightly")
            except (BenchFileError, BenchRunError) as exc:
                log.warning("bench %s: could not add %s: %s", result.bench_version, added, exc)
                out.append(NightlyOutcome(result.bench_version, "skipped", tuple(added),
                                          str(exc)))
                continue
            out.append(NightlyOutcome(result.bench_version, "scored", tuple(added)))
            continue
        agreement, snapshot = await arena_agreement(sessionmaker, result.score)
        if snapshot is None or snapshot == result.snapshot_run_id:
            out.append(NightlyOutcome(result.bench_version, "unchanged"))
            continue
        async with sessionmaker() as session:
            session.add(BenchResult(
                bench_version=result.bench_version, bench_path=result.bench_path,
                source="nightly", anchor=result.anchor, judge=result.judge,
                answer_template=result.answer_template, judge_template=result.judge_template,
                models=list(result.models), seed=result.seed, score=result.score,
                agreement=agreement, snapshot_run_id=snapshot))
            await session.commit()
        out.append(NightlyOutcome(result.bench_version, "agreement"))
    return out


def result_json(result: BenchResult, arena_payload: dict[str, Any] | None) -> dict[str, Any]:
    """A stored result as the export writes it, its agreement recomputed against
    ``arena_payload`` (the board being exported) when given."""
    agreement = result.agreement
    if arena_payload is not None:
        agreement = bench_agreement(intervals_from_json(result.score),
                                    arena_intervals(arena_payload))
    return {"bench": result.bench_version, "anchor": result.anchor, "judge": result.judge,
            "answer_template": result.answer_template,
            "judge_template": result.judge_template, "models": list(result.models),
            "seed": result.seed, "score": result.score, "agreement": agreement}


async def export_files(sessionmaker: async_sessionmaker,
                       arena_payload: dict[str, Any] | None) -> dict[str, bytes]:
    """``bench/<version>.json`` for every bench's latest result, for the nightly export."""
    async with sessionmaker() as session:
        results = await latest_results(session)
    return {f"bench/{r.bench_version}.json":
            (json.dumps(result_json(r, arena_payload), indent=2, sort_keys=True) + "\n")
            .encode() for r in results}


async def export_extra(sessionmaker: async_sessionmaker, run: Any) -> dict[str, bytes]:
    """The nightly export's bench files (``workers.export.ExtraFiles``): every bench's
    latest result, its agreement recomputed against the default overall board of the
    leaderboard run being exported."""
    board = run.board("default") if run is not None else None
    return await export_files(sessionmaker, board.payload if board is not None else None)


def nightly_hook(sessionmaker: async_sessionmaker, queue: JobQueue, blobs: LocalBlobStore,
                 *, timeout_s: float | None = 6 * 3600.0) -> Any:
    """An after-export hook for the scheduler: the bench's nightly part."""
    async def hook(_outcome: object) -> list[NightlyOutcome]:
        outcomes = await run_nightly(sessionmaker, queue, blobs, timeout_s=timeout_s)
        for o in outcomes:
            log.info("bench %s: %s %s", o.bench_version, o.status, ", ".join(o.new_models))
        return outcomes

    return hook
