"""The VLFeedback ratings job: k models answer each prompt through the workers, then the
judge rates all k answers of a prompt in one call (helpfulness, visual faithfulness,
ethical considerations, 1-5 with a rationale each).

It runs on the judge layer like the bench (app/bench/runner.py), whose answer step it
shares: an answer is a judgment of the ``answer@1`` template keyed by (model, image +
question), a rating one of ``vlfeedback-ratings@1`` keyed by (judge, image + question + the
answers in order). Running the same job again adopts every row that exists and redoes
nothing that finished: the models of a prompt and the answers' order are drawn from a
random generator seeded by (seed, prompt id), so the second run asks for the same work.

For an arena prompt the battle's two answers are among the k (``fixed``): the ratings of
both sides are what AI-human agreement is computed on. The answers' order is shuffled per
prompt, so no model always sits in the same position.

Checked before the first write: templates, the judge and the models in the registry, a
live worker for each; a request that can not run leaves no run.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bench.runner import (
    OnProgress,
    _template,
    answer_text,
    check_models,
    rows_by_key,
)
from app.db.models import ModelEntry
from app.feedback.pairs import FeedbackItem
from app.feedback.prompts import FeedbackPrompt
from app.feedback.store import run_items, save_links
from app.judges.inputs import ImageInput
from app.judges.runs import JudgmentSpec, RunError, judge_form, submit_run, wait_for_run
from app.judges.templates import judgment_inputs_hash
from app.queue import JobQueue
from app.storage.blobs import BlobNotFound, LocalBlobStore

ANSWER_KIND, RATINGS_KIND = "feedback-answers", "feedback-ratings"
MAX_K = 8  # the ratings template takes at most 8 answers


class FeedbackError(RunError):
    """A ratings job that can not start or finish; the message says why."""


@dataclass(frozen=True)
class FeedbackParams:
    judge: str
    k: int = 4
    models: tuple[str, ...] = ()  # the pool to sample from; empty: the registry's
    seed: int = 0
    label: str = "feedback"
    answer_template: str = "answer@1"
    ratings_template: str = "vlfeedback-ratings@1"
    poll_s: float = 0.5
    timeout_s: float | None = None  # per stage; None waits as long as it takes


@dataclass
class FeedbackRun:
    """What a finished job produced: the ratings run (the handle for pairs and exports)
    and the rated items, failures included."""

    ratings_run_id: uuid.UUID
    answers_run_id: uuid.UUID | None
    items: list[FeedbackItem]
    counts: dict[str, int] = field(default_factory=dict)


async def answer_pool(session: AsyncSession, names: Sequence[str] = ()) -> list[str]:
    """Models a battle may draw (enabled, role answer, not marked out): all of them, or
    the named ones, which must all be such models. Judges are never in the pool."""
    rows = (await session.scalars(select(ModelEntry))).all()
    await session.commit()
    eligible = {m.name for m in rows if m.enabled and m.role == "answer" and not m.outage}
    if not names:
        return sorted(eligible)
    bad = [n for n in names if n not in eligible]
    if bad:
        known = {m.name for m in rows}
        unknown = [n for n in bad if n not in known]
        raise FeedbackError(f"model(s) {unknown} are not in the registry" if unknown else
                            f"model(s) {bad} may not answer (disabled, marked out or "
                            "judges): name battle models")
    return sorted(dict.fromkeys(names))


def plan(prompt: FeedbackPrompt, pool: Sequence[str], k: int, seed: int
         ) -> list[tuple[str, str | None]]:
    """The prompt's k answers in the judge's order, as (model, fixed text or None for one
    to generate): the fixed answers plus models drawn from the pool, shuffled."""
    rng = random.Random(f"{seed}:{prompt.id}")
    fixed = list(prompt.fixed)
    others = sorted(set(pool) - {m for m, _ in fixed})
    need = k - len(fixed)
    if need < 0 or need > len(others):
        raise FeedbackError(
            f"prompt {prompt.id}: k={k} answers needs {max(need, 0)} models besides "
            f"{[m for m, _ in fixed] or 'none'}, the pool has {len(others)}")
    chosen: list[tuple[str, str | None]] = [*fixed, *((m, None) for m in rng.sample(others,
                                                                                   need))]
    rng.shuffle(chosen)
    return chosen


async def _store_images(blobs: LocalBlobStore, prompts: Sequence[FeedbackPrompt]
                        ) -> tuple[list[FeedbackPrompt], int]:
    """Imported images into the blob store (the workers read them there); arena prompts
    whose image is gone are left out and counted."""
    kept, missing = [], 0
    for p in prompts:
        if p.image_data is not None:
            if await blobs.put(p.image_data) != p.image_sha256:
                raise FeedbackError(f"prompt {p.id}: image does not match its sha256")
        else:
            try:
                await blobs.get(p.image_sha256)
            except BlobNotFound:
                missing += 1
                continue
        kept.append(p)
    return kept, missing


def _inputs(p: FeedbackPrompt) -> dict[str, Any]:
    return {"image": ImageInput(p.image_sha256), "question": p.prompt}


async def run_feedback(
    sessionmaker: async_sessionmaker, queue: JobQueue, blobs: LocalBlobStore,
    prompts: Sequence[FeedbackPrompt], params: FeedbackParams, *,
    on_progress: OnProgress | None = None, created_by: str = "cli",
) -> FeedbackRun:
    """Answer, rate; the items (with failures) of the ratings run."""
    if not 2 <= params.k <= MAX_K:
        raise FeedbackError(f"k must be 2 to {MAX_K}, got {params.k}")
    if not prompts:
        raise FeedbackError("no prompts to rate")
    repeated = sorted(i for i, n in Counter(p.id for p in prompts).items() if n > 1)
    if repeated:
        raise FeedbackError(f"prompt ids must be unique; repeated: {repeated[:10]}")
    answer_t = _template(params.answer_template, "answer")
    ratings_t = _template(params.ratings_template, "ratings")
    async with sessionmaker() as session:
        pool = await answer_pool(session, params.models)
    plans = {p.id: plan(p, pool, params.k, params.seed) for p in prompts}  # raises first
    generate = sorted({m for pl in plans.values() for m, text in pl if text is None})
    async with sessionmaker() as session:
        entries = await check_models(session, queue, [*generate, params.judge])
    prompts, missing_images = await _store_images(blobs, prompts)
    if not prompts:
        raise FeedbackError(f"every prompt's image is missing from the blob store "
                            f"({missing_images})")
    run_params = {"label": params.label, "judge": params.judge, "k": params.k,
                  "seed": params.seed, "pool": pool, "prompts": len(prompts)}
    counts: dict[str, int] = {"prompts": len(prompts), "missing_images": missing_images}

    # 1. answers of the drawn models
    wanted: list[tuple[tuple[str, str], str, str]] = []  # (key, model, prompt id)
    specs: dict[tuple[str, str], JudgmentSpec] = {}
    for p in prompts:
        for model, text in plans[p.id]:
            if text is not None:
                continue
            key = (model, judgment_inputs_hash(answer_t, _inputs(p)))
            wanted.append((key, model, p.id))
            specs.setdefault(key, JudgmentSpec(answer_t, model, _inputs(p),
                                               form=judge_form(entries[model]),
                                               meta={"feedback": params.label,
                                                     "prompt_id": p.id}))
    answers_run_id = None
    answers: dict[tuple[str, str], str] = {}
    if specs:
        async with sessionmaker() as session:
            run = await submit_run(session, queue, kind=ANSWER_KIND,
                                   label=f"{params.label} answers", specs=list(specs.values()),
                                   params=run_params, created_by=created_by)
        answers_run_id = run.id
        await wait_for_run(sessionmaker, run.id, "answers", poll_s=params.poll_s,
                       timeout_s=params.timeout_s, on_progress=on_progress,
                       error=FeedbackError)
        async with sessionmaker() as session:
            rows = await rows_by_key(session, answer_t, dict.fromkeys(specs))
        for key, model, pid in wanted:  # two prompts may ask the same: one answer each
            row = rows.get(key)
            if row is not None and row.status == "done":
                answers[(model, pid)] = answer_text(row)
    counts["answers_missing"] = len(wanted) - len(answers)

    # 2. one ratings judgment per prompt over its answers that exist
    rating_keys: dict[tuple[str, str], JudgmentSpec] = {}
    links: list[tuple[tuple[str, str], dict[str, Any]]] = []
    too_few = 0
    judge_form_ = judge_form(entries[params.judge])
    for p in prompts:
        done = [(m, t if t is not None else answers.get((m, p.id))) for m, t in plans[p.id]]
        done = [(m, t) for m, t in done if t is not None]
        if len(done) < 2:
            too_few += 1
            continue
        models = [m for m, _ in done]
        inputs = {**_inputs(p), "answers": [t for _, t in done]}
        link: dict[str, Any] = {"prompt_id": p.id, "models": models}
        if p.battle_id is not None:
            at = {m: i for i, (m, t) in enumerate(done) if (m, t) in p.fixed}
            (a_model, _), (b_model, _) = p.fixed[0], p.fixed[1]
            if a_model in at and b_model in at:
                link |= {"battle_id": uuid.UUID(p.battle_id), "side_a": at[a_model],
                         "side_b": at[b_model]}
        key = (params.judge, judgment_inputs_hash(ratings_t, inputs))
        rating_keys.setdefault(key, JudgmentSpec(
            ratings_t, params.judge, inputs, form=judge_form_,
            meta={"feedback": params.label, "prompt_id": p.id, "models": models}))
        links.append((key, link))
    counts["too_few_answers"] = too_few
    if not rating_keys:
        raise FeedbackError(f"no prompt has two answers to rate (answers missing: "
                            f"{counts['answers_missing']})")
    async with sessionmaker() as session:
        run = await submit_run(session, queue, kind=RATINGS_KIND,
                               label=f"{params.label} rated by {params.judge}",
                               specs=list(rating_keys.values()), params=run_params,
                               created_by=created_by)
        rows = await rows_by_key(session, ratings_t, dict.fromkeys(rating_keys))
        await save_links(session, run.id, [(rows[k].id, link) for k, link in links])
    await wait_for_run(sessionmaker, run.id, "ratings", poll_s=params.poll_s,
                       timeout_s=params.timeout_s, on_progress=on_progress,
                       error=FeedbackError)
    async with sessionmaker() as session:
        items = await run_items(session, run.id)
        rows = await rows_by_key(session, ratings_t, dict.fromkeys(rating_keys))
    counts["rated"] = sum(i.ratings is not None for i in items)
    counts["failed"] = sum(rows[k].status == "failed" for k, _ in links)
    counts["unparsable"] = len(items) - counts["rated"] - counts["failed"]
    return FeedbackRun(run.id, answers_run_id, items, counts)
