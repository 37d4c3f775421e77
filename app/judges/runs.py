"""Judge runs in the database: submit work idempotently, follow it, read its results.

A run is a set of judgments. Each judgment's key is (task, template version, judge, inputs
hash, repetition): submitting work that exists already (a run stopped and started again)
adopts the existing rows into the new run and redoes nothing that finished. Judgments are
batch jobs: the workers take them only when no battle waits.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.dialect import insert_for
from app.db.judge_tables import JudgeRun, Judgment
from app.db.models import ModelEntry
from app.judges.inputs import canonical_inputs, inputs_hash
from app.judges.templates import Form, Template, check_inputs
from app.queue import JobQueue

BATCH = "batch"
KIND = "judgment"


class RunError(ValueError):
    """Work that can not be submitted; the message says why. Nothing was written."""


@dataclass(frozen=True)
class JudgmentSpec:
    """One judgment to make: which template, which judge, on what."""

    template: Template
    judge: str
    inputs: Mapping[str, Any]
    repetition: int = 0
    form: Form = "full"
    meta: Mapping[str, Any] = field(default_factory=dict)
    # Overrides of the template's sampling for this judgment (e.g. VL-RewardBench's
    # temperature / top-p, a seed); stored with the row like the template's own values.
    sampling: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunProgress:
    total: int
    queued: int
    running: int
    done: int
    failed: int
    parse_failures: int
    prompt_tokens: int
    completion_tokens: int

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.finished == self.total


# Told as a run goes: the stage the caller named (wait_for_run) and its progress.
OnProgress = Callable[[str, RunProgress], None]


def judge_form(entry: ModelEntry) -> Form:
    """The prompt form a registry model takes as a judge: `judge_form` in its options
    (`short` for the demo's tiny judge, whose context is small; `full` otherwise)."""
    form = (entry.options or {}).get("judge_form", "full")
    if form not in ("full", "short"):
        raise RunError(f"model {entry.name!r}: judge_form must be 'full' or 'short'")
    return form


def _row(spec: JudgmentSpec, run_id: uuid.UUID) -> dict[str, Any]:
    checked = check_inputs(spec.template, spec.inputs)
    return dict(
        id=uuid.uuid4(), run_id=run_id, task=spec.template.name,
        template_version=spec.template.version, judge_model=spec.judge,
        inputs_hash=inputs_hash(spec.template.id, checked), repetition=spec.repetition,
        form=spec.form, inputs=canonical_inputs(checked),
        sampling={**spec.template.sampling(spec.form).as_dict(), **spec.sampling},
        meta=dict(spec.meta),
        status="queued", attempts=0, created_at=datetime.now(UTC),
        status_at=datetime.now(UTC),
    )


async def submit_run(
    session: AsyncSession, queue: JobQueue, *, kind: str, label: str,
    specs: Sequence[JudgmentSpec], params: Mapping[str, Any] | None = None,
    created_by: str = "cli", chunk: int = 500,
) -> JudgeRun:
    """Create a run of `specs` (or adopt the rows that exist) and enqueue what is queued."""
    if not specs:
        raise RunError("nothing to judge: the run has no eligible items")
    judges = {s.judge for s in specs}
    entries = {m.name: m for m in (await session.scalars(
        select(ModelEntry).where(ModelEntry.name.in_(judges)))).all()}
    missing = sorted(judges - set(entries))
    if missing:
        raise RunError(f"unknown model(s) {missing}: add them to the registry first")
    for name in judges:
        if not await queue.live_workers(name):
            raise RunError(f"model {name!r} has no live worker: start one, then run again")
    run = JudgeRun(id=uuid.uuid4(), kind=kind, label=label[:200], params=dict(params or {}),
                   created_by=created_by)
    rows = [_row(s, run.id) for s in specs]  # raises TemplateInputError before any write
    session.add(run)
    await session.flush()
    insert = insert_for(session)
    for start in range(0, len(rows), chunk):
        stmt = insert(Judgment).values(rows[start:start + chunk])
        # Existing work joins this run; its state and result stay as they are.
        stmt = stmt.on_conflict_do_update(
            index_elements=["task", "template_version", "judge_model", "inputs_hash",
                            "repetition"],
            set_={"run_id": stmt.excluded.run_id},
        )
        await session.execute(stmt)
    await session.commit()
    await enqueue_waiting(session, queue, run.id)
    return run


async def enqueue_waiting(session: AsyncSession, queue: JobQueue, run_id: uuid.UUID) -> int:
    """Enqueue the run's queued judgments that no queue holds (all of them for a new run;
    the ones a stopped run left behind when it is resumed)."""
    rows = (await session.execute(
        select(Judgment.id, Judgment.judge_model)
        .where(Judgment.run_id == run_id, Judgment.status == "queued")
    )).all()
    await session.commit()
    held: dict[str, set[str]] = {}
    count = 0
    for jid, model in rows:
        if model not in held:
            held[model] = await queue.held(model, lane=BATCH)
        if str(jid) not in held[model]:
            await queue.enqueue(model, str(jid), lane=BATCH, kind=KIND)
            count += 1
    return count


async def run_progress(session: AsyncSession, run_id: uuid.UUID) -> RunProgress:
    rows = (await session.execute(
        select(Judgment.status, func.count(), func.count(Judgment.parse_error),
               func.coalesce(func.sum(Judgment.prompt_tokens), 0),
               func.coalesce(func.sum(Judgment.completion_tokens), 0))
        .where(Judgment.run_id == run_id).group_by(Judgment.status)
    )).all()
    await session.commit()
    by = {status: (n, pf, pt, ct) for status, n, pf, pt, ct in rows}
    n = {s: by.get(s, (0, 0, 0, 0))[0] for s in ("queued", "running", "done", "failed")}
    return RunProgress(
        total=sum(n.values()), queued=n["queued"], running=n["running"], done=n["done"],
        failed=n["failed"], parse_failures=sum(v[1] for v in by.values()),
        prompt_tokens=int(sum(v[2] for v in by.values())),
        completion_tokens=int(sum(v[3] for v in by.values())),
    )


async def close_if_complete(session: AsyncSession, run_id: uuid.UUID) -> RunProgress:
    """Mark the run done once every judgment finished (idempotent)."""
    progress = await run_progress(session, run_id)
    if progress.complete:
        await session.execute(
            update(JudgeRun).where(JudgeRun.id == run_id, JudgeRun.status == "running")
            .values(status="done", finished_at=datetime.now(UTC))
        )
        await session.commit()
    return progress


async def wait_for_run(sessionmaker: async_sessionmaker, run_id: uuid.UUID, stage: str, *,
                       poll_s: float, timeout_s: float | None,
                       on_progress: OnProgress | None = None,
                       error: type[RunError] = RunError) -> RunProgress:
    """Poll the run until every judgment finished (they run on the workers). A timeout
    raises ``error`` saying how far it got: the same command, run again, resumes."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout_s is None else loop.time() + timeout_s
    while True:
        async with sessionmaker() as session:
            progress = await close_if_complete(session, run_id)
        if on_progress is not None:
            on_progress(stage, progress)
        if progress.complete:
            return progress
        if deadline is not None and loop.time() > deadline:
            raise error(f"{stage}: {progress.finished} of {progress.total} finished "
                        f"after {timeout_s:.0f} s; run the same command again to resume")
        await asyncio.sleep(poll_s)


async def run_judgments(session: AsyncSession, run_id: uuid.UUID) -> list[Judgment]:
    """Every judgment of the run, finished or not, oldest first."""
    rows = (await session.scalars(
        select(Judgment).where(Judgment.run_id == run_id).order_by(Judgment.created_at)
    )).all()
    await session.commit()
    return list(rows)


async def list_runs(session: AsyncSession, limit: int = 50) -> list[JudgeRun]:
    rows = (await session.scalars(
        select(JudgeRun).order_by(JudgeRun.created_at.desc()).limit(limit))).all()
    await session.commit()
    return list(rows)
