"""`arena judge-eval` as a judge run: every (item, repetition) is one judgment on the workers.

The shown order of each repetition is part of the judgment's inputs (``answer_1`` /
``answer_2``) and is drawn from the seed, so the key (template, judge, inputs hash,
repetition) of every call is known before anything runs: starting the same evaluation
again adopts the rows that exist and redoes nothing that finished (resumable), and the
result is read back by those keys. Everything that can be checked before the first write
is: the template, the judge and its worker, the items' inputs, the sampling of judgments
that exist already. A bad request leaves no run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.db.judge_tables import Judgment
from app.db.models import ModelEntry
from app.judges.results import ParseFailure, RewardChoice
from app.judges.runs import (
    JudgmentSpec,
    RunError,
    RunProgress,
    judge_form,
    submit_run,
    wait_for_run,
)
from app.judges.templates import Template, judgment_inputs_hash, load_template
from app.queue import JobQueue
from app.rewardbench.items import RewardItem
from app.rewardbench.protocol import Metrics, Order, Repetition, classify, score, shown_order
from app.storage.blobs import LocalBlobStore

KIND = "judge-eval"
TEMPLATE = "vlrewardbench-pairwise@1"
OnProgress = Callable[[RunProgress], None]


class JudgeEvalError(RunError):
    """An evaluation that can not start or finish; the message says why."""


@dataclass(frozen=True)
class EvalParams:
    judge: str
    repetitions: int = 10  # the reference code's default (the paper reports K = 5)
    temperature: float = 0.2  # the reference code's sampling
    top_p: float = 0.2
    seed: int = 0  # of the shown orders
    template: str = TEMPLATE
    poll_s: float = 0.5
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.repetitions <= 100:
            raise JudgeEvalError("repetitions must be between 1 and 100")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise JudgeEvalError("temperature must be >= 0 and top-p in (0, 1]")

    @property
    def sampling(self) -> dict[str, float]:
        return {"temperature": self.temperature, "top_p": self.top_p}


@dataclass(frozen=True)
class Call:
    item: RewardItem
    repetition: int
    shown: Order
    key: str  # inputs hash
    spec: JudgmentSpec


@dataclass
class EvalResult:
    params: EvalParams
    metrics: Metrics
    items: list[dict[str, Any]]
    run_id: uuid.UUID
    sources: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        p = self.params
        return {"judge": p.judge, "template": p.template, "repetitions": p.repetitions,
                "temperature": p.temperature, "top_p": p.top_p, "seed": p.seed,
                "sources": self.sources, "run_id": str(self.run_id),
                "metrics": self.metrics.as_json(), "items": self.items}


def template_of(ref: str) -> Template:
    template = load_template(ref)
    if template.kind != "reward-pairwise":
        raise JudgeEvalError(f"template {template.id} is a {template.kind!r} template; "
                             "judge-eval needs a 'reward-pairwise' one")
    return template


def plan(items: Sequence[RewardItem], params: EvalParams, template: Template,
         form: Any) -> list[Call]:
    """Every judge call of the evaluation, with its seeded order."""
    calls = []
    for item in items:
        for rep in range(params.repetitions):
            shown = shown_order(params.seed, item.key, rep)
            inputs = {"image": item.image, "question": item.query,
                      "answer_1": item.responses[shown[0]],
                      "answer_2": item.responses[shown[1]]}
            spec = JudgmentSpec(template, params.judge, inputs, repetition=rep, form=form,
                                sampling=params.sampling,
                                meta={"item": item.id, "shown": list(shown),
                                      "seed": params.seed})
            calls.append(Call(item, rep, shown, judgment_inputs_hash(template, inputs), spec))
    return calls


async def existing_rows(sessionmaker: async_sessionmaker, template: Template, judge: str,
                        keys: Sequence[str]) -> dict[tuple[str, int], Judgment]:
    """The judge's rows of ``template`` for these inputs hashes, by (hash, repetition)."""
    hashes = sorted(set(keys))
    found: dict[tuple[str, int], Judgment] = {}
    async with sessionmaker() as session:
        for start in range(0, len(hashes), 500):
            rows = (await session.scalars(select(Judgment).where(
                Judgment.task == template.name, Judgment.template_version == template.version,
                Judgment.judge_model == judge,
                Judgment.inputs_hash.in_(hashes[start:start + 500])))).all()
            found.update({(r.inputs_hash, r.repetition): r for r in rows})
        await session.commit()
    return found


def _sampling_conflicts(rows: Mapping[tuple[str, int], Judgment], calls: Sequence[Call],
                        sampling: Mapping[str, float]) -> int:
    wanted = {(c.key, c.repetition) for c in calls}
    return sum(1 for k, r in rows.items() if k in wanted and any(
        float((r.sampling or {}).get(name, -1)) != value for name, value in sampling.items()))


def judged(row: Judgment | None, parser: str) -> RewardChoice | ParseFailure | None:
    if row is None or row.status != "done":
        return None
    if row.parse_error or not row.parsed:
        return ParseFailure(parser, row.parse_error or "no parsed result")
    return RewardChoice(int(row.parsed["better"]))  # type: ignore[arg-type]


async def run_judge_eval(
    sessionmaker: async_sessionmaker, queue: JobQueue, blobs: LocalBlobStore,
    items: Sequence[RewardItem], params: EvalParams, *, label: str = "",
    on_progress: OnProgress | None = None, sources: Mapping[str, Any] | None = None,
) -> EvalResult:
    """Judge every item ``params.repetitions`` times through the workers and score it
    (an item given twice, e.g. by two sources, counts once)."""
    items = list({item.key: item for item in items}.values())
    if not items:
        raise JudgeEvalError("nothing to evaluate: no item qualified")
    template = template_of(params.template)
    async with sessionmaker() as session:
        entry = await session.get(ModelEntry, params.judge)
        await session.commit()
    if entry is None:
        raise JudgeEvalError(f"unknown model {params.judge!r}: add it to the registry first")
    calls = plan(items, params, template, judge_form(entry))
    rows = await existing_rows(sessionmaker, template, params.judge, [c.key for c in calls])
    conflicts = _sampling_conflicts(rows, calls, params.sampling)
    if conflicts:
        raise JudgeEvalError(
            f"{conflicts} of these judgments exist already with other sampling than "
            f"temperature {params.temperature} / top-p {params.top_p}; a judgment is kept "
            "by (inputs, repetition), so evaluate with the sampling they were made with, or "
            "draw other orders with another --seed")
    if not await queue.live_workers(params.judge):
        raise JudgeEvalError(f"model {params.judge!r} has no live worker: start one "
                             f"(`arena worker --model {params.judge}`), then run again")
    for item in items:  # the workers read images from the blob store
        if item.image.data is not None:
            await blobs.put(item.image.data)
    unique: dict[tuple[str, int], JudgmentSpec] = {}
    for c in calls:  # a repeated item asks the judge the same thing: one judgment
        unique.setdefault((c.key, c.repetition), c.spec)
    async with sessionmaker() as session:
        run = await submit_run(
            session, queue, kind=KIND, label=label or f"judge-eval {params.judge}",
            specs=list(unique.values()),
            params={"judge": params.judge, "repetitions": params.repetitions,
                    "seed": params.seed, **params.sampling, "items": len(items)})
    await wait_for_run(sessionmaker, run.id, "judgments", poll_s=params.poll_s,
                       timeout_s=params.timeout_s,
                       on_progress=None if on_progress is None else lambda _, p: on_progress(p),
                       error=JudgeEvalError)
    rows = await existing_rows(sessionmaker, template, params.judge, [c.key for c in calls])
    by_item: dict[str, list[Repetition]] = {}
    for c in calls:
        by_item.setdefault(c.item.key, []).append(
            Repetition(c.shown, judged(rows.get((c.key, c.repetition)), template.parser)))
    results = [(item, by_item[item.key]) for item in items]
    metrics = score(results)
    detail = [{"id": item.id, "domain": item.domain, "source": item.source,
               "preferred": item.preferred, "class": classify(item, reps),
               "repetitions": [{"shown": list(r.shown), "chosen": r.chosen,
                                "label": r.label(item)} for r in reps]}
              for item, reps in results]
    return EvalResult(params, metrics, detail, run.id, dict(sources or {}))
