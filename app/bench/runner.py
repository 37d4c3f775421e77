"""`arena bench run`: candidates answer the bench through the workers, the judge compares
each answer with the anchor's twice (positions swapped), and the result is scored and
stored.

Everything runs as judge-layer batch jobs (app/judges/runs.py), so battles always come
first and the work is idempotent: an answer is a judgment row keyed by (answer template,
model, inputs hash of image + question), a verdict one keyed by (judge template, judge,
inputs hash of image + question + both answers). Killing a bench run and starting it again
adopts every row that exists, redoes nothing that finished, and, decoding being greedy,
ends with the same rows and the same score as a run that was never interrupted. The
rows are found again by their keys, never by run id or metadata, so a row that another
bench (or another candidate with the same answer) already produced is reused, not
confused.

Everything that can be checked before the first write is: templates and their kinds, the
models in the registry, a live worker for every one of them; a bad request leaves no run.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bench.files import RESULTS, Bench, BenchQuestion
from app.bench.score import (
    BenchScore,
    PairJudgment,
    arena_intervals,
    bench_agreement,
    score_bench,
)
from app.db.bench_tables import BenchResult
from app.db.judge_tables import Judgment
from app.db.models import ModelEntry
from app.judges.inputs import ImageInput
from app.judges.results import ParseFailure, Verdict
from app.judges.runs import (
    JudgmentSpec,
    OnProgress,
    RunError,
    judge_form,
    submit_run,
    wait_for_run,
)
from app.judges.templates import (
    Template,
    judgment_inputs_hash,
    load_template_of_kind,
)
from app.judges.verdicts import Judged
from app.leaderboard.snapshots import latest_snapshot
from app.queue import JobQueue
from app.storage.blobs import LocalBlobStore

ANSWER_KIND, JUDGE_KIND = "bench-answer", "bench-judge"


class BenchRunError(RunError):
    """A bench run that can not start or finish; the message says why."""


@dataclass(frozen=True)
class RunParams:
    models: tuple[str, ...]  # the candidates (the anchor, if listed, is not its own rival)
    anchor: str
    judge: str
    answer_template: str = "answer@1"
    judge_template: str = "bench-pairwise@1"
    seed: int = 0
    n_bootstrap: int = 100
    poll_s: float = 0.5
    timeout_s: float | None = None  # per stage; None waits as long as it takes

    @property
    def candidates(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m for m in self.models if m != self.anchor))


@dataclass
class BenchRun:
    """What a finished bench run produced."""

    bench: Bench
    params: RunParams
    score: BenchScore
    agreement: dict[str, Any] | None
    snapshot_run_id: uuid.UUID | None
    missing_answers: dict[str, int] = field(default_factory=dict)
    result_id: uuid.UUID | None = None
    result_file: Path | None = None

    def as_json(self) -> dict[str, Any]:
        """The result file's content (no clock time: the same run gives the same file)."""
        return {
            "bench": self.bench.version, "anchor": self.params.anchor,
            "judge": self.params.judge, "models": list(self.params.candidates),
            "answer_template": self.params.answer_template,
            "judge_template": self.params.judge_template, "seed": self.params.seed,
            "n_bootstrap": self.params.n_bootstrap, "questions": len(self.bench.questions),
            "missing_answers": self.missing_answers, "score": self.score.as_json(),
            "agreement": self.agreement,
            "snapshot_run_id": str(self.snapshot_run_id) if self.snapshot_run_id else None,
        }


def _template(ref: str, kind: str) -> Template:
    return load_template_of_kind(ref, kind, BenchRunError)


async def check_models(session: AsyncSession, queue: JobQueue,
                       names: Sequence[str]) -> dict[str, ModelEntry]:
    """Registry entries of ``names``; every one must exist and have a live worker."""
    entries = {m.name: m for m in (await session.scalars(
        select(ModelEntry).where(ModelEntry.name.in_(list(names))))).all()}
    await session.commit()
    missing = [n for n in names if n not in entries]
    if missing:
        raise BenchRunError(f"unknown model(s) {missing}: add them to the registry first")
    offline = [n for n in names if not await queue.live_workers(n)]
    if offline:
        raise BenchRunError(f"model(s) {offline} have no live worker: start one for each "
                            "(`arena worker --model NAME`), then run again; nothing was "
                            "submitted")
    return entries


def answer_inputs(q: BenchQuestion) -> dict[str, Any]:
    return {"image": ImageInput(q.image_sha256), "question": q.prompt}


def judge_inputs(q: BenchQuestion, answer_a: str, answer_b: str) -> dict[str, Any]:
    return {"image": ImageInput(q.image_sha256), "question": q.prompt,
            "answer_a": answer_a, "answer_b": answer_b}


async def rows_by_key(session: AsyncSession, template: Template,
                      keys: Mapping[tuple[str, str], Any]) -> dict[tuple[str, str], Judgment]:
    """Judgment rows of ``template`` by (model, inputs hash)."""
    hashes = sorted({h for _, h in keys})
    found: dict[tuple[str, str], Judgment] = {}
    for start in range(0, len(hashes), 500):
        rows = (await session.scalars(select(Judgment).where(
            Judgment.task == template.name, Judgment.template_version == template.version,
            Judgment.repetition == 0, Judgment.inputs_hash.in_(hashes[start:start + 500]),
        ))).all()
        found.update({(r.judge_model, r.inputs_hash): r for r in rows})
    await session.commit()
    return found


def judged(row: Judgment | None, parser: str) -> Judged | None:
    """A stored verdict back as the judge layer's type; None for a failed job."""
    if row is None or row.status != "done":
        return None
    if row.parse_error or not row.parsed:
        return ParseFailure(parser, row.parse_error or "no parsed result")
    return Verdict(row.parsed["value"])


def answer_text(row: Judgment) -> str:
    return str((row.parsed or {}).get("text", (row.raw_output or "").strip()))


def _dedup(specs: Sequence[tuple[tuple[str, str], JudgmentSpec]]) -> list[JudgmentSpec]:
    """One spec per key: two candidates with the same answer, or a candidate whose answer
    equals the anchor's, ask the judge the same thing, which is one judgment."""
    seen: dict[tuple[str, str], JudgmentSpec] = {}
    for key, spec in specs:
        seen.setdefault(key, spec)
    return list(seen.values())


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text)


async def run_bench(
    sessionmaker: async_sessionmaker, queue: JobQueue, blobs: LocalBlobStore, bench: Bench,
    params: RunParams, *, on_progress: OnProgress | None = None, source: str = "cli",
    store: bool = True,
) -> BenchRun:
    """Answer, judge, score; store the result (a row and ``results/<judge>--<anchor>.json``
    in the bench folder) unless ``store`` is false."""
    answer_t = _template(params.answer_template, "answer")
    judge_t = _template(params.judge_template, "pairwise")
    candidates = params.candidates
    if not candidates:
        raise BenchRunError("no candidate models: name at least one besides the anchor")
    answerers = (*candidates, params.anchor)
    async with sessionmaker() as session:
        entries = await check_models(session, queue, [*answerers, params.judge])
    for q in bench.questions:  # the workers read images from the blob store
        data = bench.image_bytes(q.image_sha256)
        if await blobs.put(data) != q.image_sha256:
            raise BenchRunError(f"image of question {q.question_id} does not match its hash")
    run_params = {"bench": bench.version, "anchor": params.anchor, "judge": params.judge,
                  "models": list(candidates)}

    # 1. answers
    answer_keys: dict[tuple[str, str], tuple[str, BenchQuestion]] = {}
    specs = []
    for model in answerers:
        form = judge_form(entries[model])
        for q in bench.questions:
            inputs = answer_inputs(q)
            key = (model, judgment_inputs_hash(answer_t, inputs))
            answer_keys[key] = (model, q)
            specs.append(JudgmentSpec(answer_t, model, inputs, form=form, meta={
                "bench": bench.version, "question_id": q.question_id}))
    async with sessionmaker() as session:
        run = await submit_run(session, queue, kind=ANSWER_KIND,
                               label=f"{bench.version} answers", specs=specs,
                               params=run_params)
    await wait_for_run(sessionmaker, run.id, "answers", poll_s=params.poll_s,
                       timeout_s=params.timeout_s, on_progress=on_progress,
                       error=BenchRunError)
    async with sessionmaker() as session:
        rows = await rows_by_key(session, answer_t, answer_keys)
    answers: dict[tuple[str, str], str] = {}
    tokens: dict[str, list[int]] = {}
    missing: dict[str, int] = {}
    for key, (model, q) in answer_keys.items():
        row = rows.get(key)
        if row is None or row.status != "done":
            missing[model] = missing.get(model, 0) + 1
            continue
        answers[(model, q.question_id)] = answer_text(row)
        tokens.setdefault(model, []).append(int(row.completion_tokens or 0))

    # 2. verdicts, both orders
    judge_form_ = judge_form(entries[params.judge])
    order: list[tuple[str, BenchQuestion, tuple[str, str], tuple[str, str]]] = []
    keyed: list[tuple[tuple[str, str], JudgmentSpec]] = []
    for c in candidates:
        for q in bench.questions:
            mine = answers.get((c, q.question_id))
            theirs = answers.get((params.anchor, q.question_id))
            if mine is None or theirs is None:
                continue
            keys = []
            for a, b, first in ((mine, theirs, "candidate"), (theirs, mine, "anchor")):
                inputs = judge_inputs(q, a, b)
                key = (params.judge, judgment_inputs_hash(judge_t, inputs))
                keys.append(key)
                keyed.append((key, JudgmentSpec(judge_t, params.judge, inputs,
                                                form=judge_form_, meta={
                                                    "bench": bench.version,
                                                    "question_id": q.question_id,
                                                    "candidate": c, "anchor": params.anchor,
                                                    "first": first})))
            order.append((c, q, keys[0], keys[1]))
    if not keyed:
        raise BenchRunError("no question has both a candidate's and the anchor's answer: "
                            f"answers missing {missing}")
    async with sessionmaker() as session:
        run = await submit_run(session, queue, kind=JUDGE_KIND,
                               label=f"{bench.version} judged by {params.judge}",
                               specs=_dedup(keyed), params=run_params)
    await wait_for_run(sessionmaker, run.id, "judgments", poll_s=params.poll_s,
                       timeout_s=params.timeout_s, on_progress=on_progress,
                       error=BenchRunError)
    async with sessionmaker() as session:
        verdict_rows = await rows_by_key(session, judge_t, dict(keyed))
    pairs = [PairJudgment(c, q.question_id, judged(verdict_rows.get(ka), judge_t.parser),
                          judged(verdict_rows.get(kb), judge_t.parser))
             for c, q, ka, kb in order]

    # 3. score, agreement, storage
    score = await asyncio.to_thread(
        score_bench, params.anchor, pairs, tokens, n_bootstrap=params.n_bootstrap,
        seed=params.seed, params={"judge": params.judge, "bench": bench.version})
    agreement_, snapshot_id = await arena_agreement(sessionmaker, score)
    result = BenchRun(bench, params, score, agreement_, snapshot_id, missing)
    if store:
        await store_result(sessionmaker, result, source=source)
    return result


async def arena_agreement(sessionmaker: async_sessionmaker, score: BenchScore | Mapping[str, Any]
                          ) -> tuple[dict[str, Any] | None, uuid.UUID | None]:
    """Agreement with the latest leaderboard snapshot (default kind, overall), or None
    when the arena has no snapshot yet."""
    async with sessionmaker() as session:
        view = await latest_snapshot(session)
        await session.commit()
    if view is None:
        return None, None
    arena = arena_intervals(view.snapshot.payload or {})
    bench = score if isinstance(score, BenchScore) else intervals_from_json(score)
    return bench_agreement(bench, arena), view.snapshot.run_id


def intervals_from_json(score: Mapping[str, Any]) -> dict[str, tuple[float, float, float]]:
    """Intervals of a stored score (``BenchScore.as_json``)."""
    return {r["model"]: (r["ci_lower"], r["ci_upper"], r["win_rate"])
            for r in score.get("rows", []) if r.get("win_rate") is not None}


async def store_result(sessionmaker: async_sessionmaker, result: BenchRun, *,
                       source: str = "cli") -> None:
    import json

    p = result.params
    row = BenchResult(
        bench_version=result.bench.version, bench_path=str(result.bench.path.resolve()),
        source=source, anchor=p.anchor, judge=p.judge, answer_template=p.answer_template,
        judge_template=p.judge_template, models=list(p.candidates), seed=p.seed,
        score=result.score.as_json(), agreement=result.agreement,
        snapshot_run_id=result.snapshot_run_id,
    )
    async with sessionmaker() as session:
        session.add(row)
        await session.commit()
        result.result_id = row.id
    out = result.bench.path / RESULTS
    out.mkdir(exist_ok=True)
    path = out / f"{safe_name(p.judge)}--{safe_name(p.anchor)}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result.as_json(), indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    result.result_file = path
