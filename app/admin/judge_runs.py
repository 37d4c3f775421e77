"""The judges view: judge runs with their progress, cost (tokens) and failures; one run's
failed and unparsable judgments with the judge's raw output; and starting a category pass.

Queries only, plus `start_category_pass` (through app/judges/categories, audited); pydantic
models out, which the JSON API returns as they are. A run's raw outputs are the judge's
text: the page shows them escaped, never as markup.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import audit
from app.admin.errors import NotFound
from app.db.category_tables import CategoryLabel
from app.db.judge_tables import JudgeRun, Judgment
from app.db.models import ModelEntry, utcnow
from app.judges.categories import (
    RUN_KIND,
    CategoryConfigError,
    builtin_sets,
    categorizer_option,
    load_category_set,
    set_search_dirs,
    start_pass,
)
from app.judges.runs import RunError
from app.judges.templates import default_registry
from app.queue import JobQueue

MAX_RUNS = 200
MAX_FAILURES = 200
RAW_OUTPUT_CHARS = 4000  # of each raw output shown


class RunProgressOut(BaseModel):
    total: int
    queued: int
    running: int
    done: int
    failed: int  # the judgment itself failed (worker error after its attempts)
    parse_failures: int  # the judge answered, but not in the template's format
    prompt_tokens: int
    completion_tokens: int
    finished: int  # done + failed
    percent: float  # finished / total, 0–100


class JudgeRunOut(BaseModel):
    id: uuid.UUID
    kind: str  # categories | bench-answer | bench-judge | …
    label: str
    status: str  # running | done | failed
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    error: str | None
    params: dict[str, Any]
    progress: RunProgressOut
    tokens: int  # prompt + completion tokens: the run's cost
    judges: list[str]


class CategorizerOut(BaseModel):
    """The periodic pass as the registry configures it (options.categories)."""

    judge: str
    set: str
    interval_s: float
    batch: int
    template: str | None


class CategoryPassChoices(BaseModel):
    """What the start form offers: only these values are accepted."""

    judges: list[str]
    sets: list[str]
    templates: list[str]
    configured: CategorizerOut | None
    config_error: str | None  # a registry option that does not validate


class JudgeRunsView(BaseModel):
    """Response of GET /admin/api/judge-runs."""

    generated_at: datetime
    runs: list[JudgeRunOut]  # newest first
    category_pass: CategoryPassChoices


class JudgmentFailureOut(BaseModel):
    id: uuid.UUID
    status: str
    judge_model: str
    task: str
    template_version: int
    form: str
    attempts: int
    error: str | None
    parse_error: str | None
    raw_output: str | None  # the first RAW_OUTPUT_CHARS characters
    raw_truncated: bool
    meta: dict[str, Any]
    finished_at: datetime | None


class JudgeRunDetail(BaseModel):
    """Response of GET /admin/api/judge-runs/{run_id}."""

    run: JudgeRunOut
    failures_total: int  # failed or unparsable judgments of the run
    failures: list[JudgmentFailureOut]  # the first MAX_FAILURES of them
    label_decisions: dict[str, int]  # a category run's labels by decision (pending: undecided)


class CategoryPassBody(BaseModel):
    """Body of POST /admin/api/judge-runs: start a category pass."""

    model_config = ConfigDict(extra="forbid")

    judge: str = Field(min_length=1, max_length=128)
    category_set: str = Field(min_length=1, max_length=500)
    template: str | None = Field(default=None, max_length=80)
    limit: int = Field(default=200, ge=1, le=10_000)


class CategoryPassStarted(BaseModel):
    """Response of POST /admin/api/judge-runs."""

    run_id: uuid.UUID | None  # None when no battle needed a judgment
    version: str
    battles: int
    judgments: int
    labels: int
    skipped: int


# ---------------------------------------------------------------- runs

def _progress(counts: dict[str, tuple[int, int, int, int]]) -> RunProgressOut:
    n = {s: counts.get(s, (0, 0, 0, 0))[0] for s in ("queued", "running", "done", "failed")}
    total = sum(n.values())
    finished = n["done"] + n["failed"]
    return RunProgressOut(
        total=total, queued=n["queued"], running=n["running"], done=n["done"],
        failed=n["failed"], parse_failures=sum(v[1] for v in counts.values()),
        prompt_tokens=sum(v[2] for v in counts.values()),
        completion_tokens=sum(v[3] for v in counts.values()), finished=finished,
        percent=round(100.0 * finished / total, 1) if total else 0.0,
    )


async def _run_outs(session: AsyncSession, runs: Sequence[JudgeRun]) -> list[JudgeRunOut]:
    ids = [r.id for r in runs]
    counts: dict[uuid.UUID, dict[str, tuple[int, int, int, int]]] = {i: {} for i in ids}
    judges: dict[uuid.UUID, set[str]] = {i: set() for i in ids}
    if ids:
        for run_id, status, judge, n, pf, pt, ct in (await session.execute(
            select(Judgment.run_id, Judgment.status, Judgment.judge_model, func.count(),
                   func.count(Judgment.parse_error),
                   func.coalesce(func.sum(Judgment.prompt_tokens), 0),
                   func.coalesce(func.sum(Judgment.completion_tokens), 0))
            .where(Judgment.run_id.in_(ids))
            .group_by(Judgment.run_id, Judgment.status, Judgment.judge_model)
        )).all():
            old = counts[run_id].get(status, (0, 0, 0, 0))
            counts[run_id][status] = (old[0] + int(n), old[1] + int(pf), old[2] + int(pt),
                                      old[3] + int(ct))
            judges[run_id].add(judge)
    out = []
    for r in runs:
        progress = _progress(counts[r.id])
        out.append(JudgeRunOut(
            id=r.id, kind=r.kind, label=r.label, status=r.status, created_by=r.created_by,
            created_at=r.created_at, finished_at=r.finished_at, error=r.error,
            params=dict(r.params or {}), progress=progress,
            tokens=progress.prompt_tokens + progress.completion_tokens,
            judges=sorted(judges[r.id]),
        ))
    return out


async def list_run_views(session: AsyncSession, limit: int = 50,
                         kind: str | None = None) -> list[JudgeRunOut]:
    query = select(JudgeRun).order_by(JudgeRun.created_at.desc(), JudgeRun.id)
    if kind:
        query = query.where(JudgeRun.kind == kind)
    runs = (await session.scalars(query.limit(max(1, min(limit, MAX_RUNS))))).all()
    return await _run_outs(session, runs)


def _uuid(value: str | uuid.UUID) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound("no such judge run") from None


async def run_detail(session: AsyncSession, run_id: str | uuid.UUID,
                     limit: int = MAX_FAILURES) -> JudgeRunDetail:
    run = await session.get(JudgeRun, _uuid(run_id))
    if run is None:
        raise NotFound("no such judge run")
    failing = [Judgment.run_id == run.id,
               or_(Judgment.status == "failed", Judgment.parse_error.is_not(None))]
    total = await session.scalar(select(func.count()).select_from(Judgment).where(*failing))
    rows = (await session.scalars(
        select(Judgment).where(*failing)
        .order_by(Judgment.finished_at.desc().nulls_last(), Judgment.id)
        .limit(max(1, min(limit, MAX_FAILURES)))
    )).all()
    failures = [JudgmentFailureOut(
        id=j.id, status=j.status, judge_model=j.judge_model, task=j.task,
        template_version=j.template_version, form=j.form, attempts=j.attempts, error=j.error,
        parse_error=j.parse_error,
        raw_output=None if j.raw_output is None else j.raw_output[:RAW_OUTPUT_CHARS],
        raw_truncated=j.raw_output is not None and len(j.raw_output) > RAW_OUTPUT_CHARS,
        meta=dict(j.meta or {}), finished_at=j.finished_at,
    ) for j in rows]
    decisions: dict[str, int] = {}
    if run.kind == RUN_KIND:
        for decision, n in (await session.execute(
            select(CategoryLabel.decision, func.count()).where(CategoryLabel.run_id == run.id)
            .group_by(CategoryLabel.decision)
        )).all():
            decisions[decision or "pending"] = int(n)
    (out,) = await _run_outs(session, [run])
    return JudgeRunDetail(run=out, failures_total=int(total or 0), failures=failures,
                          label_decisions=decisions)


# ---------------------------------------------------------------- starting a category pass

async def category_pass_choices(session: AsyncSession) -> CategoryPassChoices:
    """Judges (enabled models of role judge, and any that configure the categorizer), sets
    (the built-in ones and those the registry names) and category templates."""
    entries = (await session.scalars(
        select(ModelEntry).where(ModelEntry.enabled.is_(True)).order_by(ModelEntry.name)
    )).all()
    configured: CategorizerOut | None = None
    error: str | None = None
    judges: list[str] = []
    sets = list(builtin_sets())
    for e in entries:
        try:
            option = categorizer_option(e.name, e.options)
        except CategoryConfigError as exc:
            option, error = None, str(exc)
        if option is not None:
            if configured is None:
                configured = CategorizerOut(judge=option.judge, set=option.set,
                                            interval_s=option.interval_s, batch=option.batch,
                                            template=option.template)
            if option.set not in sets:
                sets.append(option.set)
        if e.role == "judge" or option is not None:
            judges.append(e.name)
    templates = [t.id for t in default_registry() if t.kind == "category"]
    return CategoryPassChoices(judges=judges, sets=sets, templates=templates,
                               configured=configured, config_error=error)


async def judge_runs_view(session: AsyncSession, limit: int = 50,
                          kind: str | None = None) -> JudgeRunsView:
    runs = await list_run_views(session, limit, kind)
    return JudgeRunsView(generated_at=utcnow(), runs=runs,
                         category_pass=await category_pass_choices(session))


async def start_category_pass(
    session: AsyncSession, queue: JobQueue, body: CategoryPassBody, *, actor: str,
    models_file: Path | None,
) -> CategoryPassStarted:
    """Start one pass with values the form offered; the action is in the audit log. A
    judge without a live worker, an unknown set or template: ValueError (422), nothing
    written."""
    choices = await category_pass_choices(session)
    if body.judge not in choices.judges:
        raise ValueError(f"{body.judge!r} is not a judge model here "
                         f"(judges: {', '.join(choices.judges) or 'none'})")
    if body.category_set not in choices.sets:
        raise ValueError(f"unknown category set {body.category_set!r} "
                         f"(sets: {', '.join(choices.sets)})")
    if body.template is not None and body.template not in choices.templates:
        raise ValueError(f"unknown category template {body.template!r} "
                         f"(templates: {', '.join(choices.templates)})")
    try:
        cset = load_category_set(body.category_set, base_dirs=set_search_dirs(models_file),
                                 template=body.template)
    except CategoryConfigError as exc:
        raise ValueError(str(exc)) from exc
    try:
        started = await start_pass(session, queue, cset, body.judge, limit=body.limit,
                                   created_by=f"admin:{actor}")
    except RunError as exc:
        raise ValueError(str(exc)) from exc
    out = CategoryPassStarted(run_id=started.run_id, version=started.version.label,
                              battles=started.battles, judgments=started.judgments,
                              labels=started.labels, skipped=started.skipped)
    audit.record(session, actor, "judge_run.start_categories",
                 f"judge_run:{started.run_id}" if started.run_id else "judge_run:none",
                 None, {**body.model_dump(), **out.model_dump(mode="json")})
    await session.commit()
    return out
