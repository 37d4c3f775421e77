"""`arena fire run`: teacher-student dialogues through the workers, stored turn by turn.

Each round asks every open dialogue's student for its next answer (template
fire-student@1, the dialogue so far as its history), then the teacher for a score and
feedback on each new answer (fire-teacher@1, with the ground truth). Both are judge-layer
batch jobs (app/judges/runs.py): battles come first, and a judgment is keyed by its inputs,
so a killed run started again adopts what exists and asks nothing twice; the turns table
is unique per (dialogue, turn), so nothing is stored twice either. Greedy decoding: a
resumed run ends with the same turns as one that was never interrupted.

What can be checked before the first write is: templates, parameters, the models in the
registry and a live worker for each; a bad request leaves no run.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bench.runner import answer_text, check_models, rows_by_key
from app.db.dialect import insert_for
from app.db.fire_tables import FireDialogue, FireRun, FireTurn
from app.db.fire_tables import FireItem as FireItemRow
from app.db.judge_tables import Judgment
from app.fire.dialogue import (
    MAX_TURNS,
    TAU,
    Turn,
    check_params,
    next_step,
    student_history,
    teacher_verdict,
)
from app.fire.items import FireItem
from app.fire.metrics import DialogueScores, by_kind, free_metrics, score_curve
from app.judges.inputs import ImageInput
from app.judges.results import ParseFailure, TeacherReply
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
from app.queue import JobQueue
from app.storage.blobs import LocalBlobStore

STUDENT_KIND, TEACHER_KIND = "fire-student", "fire-teacher"
OnRound = Callable[[int, int, int], None]  # (round, dialogues finished, dialogues)


class FireRunError(RunError):
    """A FIRE run that can not start or finish; the message says why."""


@dataclass(frozen=True)
class FireParams:
    student: str
    teacher: str
    tau: int = TAU
    max_turns: int = MAX_TURNS
    feedback: str = "teacher"  # or "uninformative": the control
    student_template: str = "fire-student@1"
    teacher_template: str = "fire-teacher@1"
    poll_s: float = 0.5
    timeout_s: float | None = None  # per stage; None waits as long as it takes

    def key(self, item_set: str, item_ids: Sequence[str]) -> str:
        payload = json.dumps([self.student, self.teacher, self.tau, self.max_turns,
                              self.feedback, self.student_template, self.teacher_template,
                              item_set, sorted(item_ids)])
        return hashlib.sha256(payload.encode()).hexdigest()


def _template(ref: str, kind: str) -> Template:
    return load_template_of_kind(ref, kind, FireRunError)


async def store_items(session: AsyncSession, blobs: LocalBlobStore, item_set: str,
                      items: Sequence[FireItem]) -> list[FireItemRow]:
    """The set's rows for `items` (inserted once; the same set and id is the same item).
    Images go to the blob store first (content-addressed: a retry rewrites nothing)."""
    if not items:
        raise FireRunError("no items: nothing to evaluate")
    for item in items:
        await blobs.put(item.image)
    insert = insert_for(session)
    for start in range(0, len(items), 500):
        stmt = insert(FireItemRow).values([dict(
            id=uuid.uuid4(), item_set=item_set, item_id=i.item_id, image_sha256=i.image_sha256,
            question=i.question, ground_truth=i.ground_truth, kind=i.kind,
            created_at=datetime.now(UTC)) for i in items[start:start + 500]])
        await session.execute(stmt.on_conflict_do_nothing(index_elements=["item_set",
                                                                          "item_id"]))
    rows = (await session.scalars(select(FireItemRow).where(
        FireItemRow.item_set == item_set))).all()
    by_id = {r.item_id: r for r in rows}
    out = [by_id[i.item_id] for i in items]
    changed = [i.item_id for i, r in zip(items, out, strict=True)
               if (r.image_sha256, r.question, r.ground_truth) != (i.image_sha256, i.question,
                                                                  i.ground_truth)]
    if changed:
        await session.rollback()
        raise FireRunError(f"item set {item_set!r} already holds other content for "
                           f"{len(changed)} ids (e.g. {changed[0]!r}): use another set name")
    return out


async def open_run(session: AsyncSession, params: FireParams, item_set: str,
                   rows: Sequence[FireItemRow]) -> FireRun:
    """The run for these parameters and items (created, or found: the same command
    resumes it), with one dialogue per item."""
    key = params.key(item_set, [r.item_id for r in rows])
    insert = insert_for(session)
    await session.execute(insert(FireRun).values(
        id=uuid.uuid4(), key=key, student=params.student, teacher=params.teacher,
        item_set=item_set, tau=params.tau, max_turns=params.max_turns,
        feedback=params.feedback, params={"student_template": params.student_template,
                                          "teacher_template": params.teacher_template,
                                          "items": len(rows)},
        status="running", created_at=datetime.now(UTC),
    ).on_conflict_do_nothing(index_elements=["key"]))
    run = (await session.scalars(select(FireRun).where(FireRun.key == key))).one()
    await session.execute(insert(FireDialogue).values([
        dict(id=uuid.uuid4(), run_id=run.id, item_pk=r.id, status="open") for r in rows
    ]).on_conflict_do_nothing(index_elements=["run_id", "item_pk"]))
    await session.commit()
    return run


@dataclass
class _Open:
    dialogue: FireDialogue
    item: FireItemRow
    turns: list[Turn]


async def load_dialogues(session: AsyncSession, run_id: uuid.UUID
                         ) -> list[tuple[FireDialogue, FireItemRow, list[FireTurn]]]:
    """Every dialogue of the run with its item and its turns in order."""
    pairs = (await session.execute(
        select(FireDialogue, FireItemRow).join(FireItemRow, FireDialogue.item_pk == FireItemRow.id)
        .where(FireDialogue.run_id == run_id).order_by(FireItemRow.item_id))).all()
    turns = (await session.scalars(
        select(FireTurn).join(FireDialogue, FireTurn.dialogue_id == FireDialogue.id)
        .where(FireDialogue.run_id == run_id).order_by(FireTurn.turn))).all()
    await session.commit()
    by_dialogue: dict[uuid.UUID, list[FireTurn]] = {}
    for t in turns:
        by_dialogue.setdefault(t.dialogue_id, []).append(t)
    return [(d, i, by_dialogue.get(d.id, [])) for d, i in pairs]


def as_turn(row: FireTurn) -> Turn:
    return Turn(row.turn, row.answer, row.score, row.feedback, row.failure)


def student_inputs(item: FireItemRow, history: Sequence[str]) -> dict[str, Any]:
    return {"image": ImageInput(item.image_sha256), "question": item.question,
            "history": list(history) or None}


def teacher_inputs(item: FireItemRow, answer: str) -> dict[str, Any]:
    return {"image": ImageInput(item.image_sha256), "question": item.question,
            "ground_truth": item.ground_truth, "answer": answer}


def teacher_reply(row: Judgment, parser: str) -> TeacherReply | ParseFailure:
    if row.parse_error or not row.parsed:
        return ParseFailure(parser, row.parse_error or "no parsed result")
    return TeacherReply(int(row.parsed["score"]), str(row.parsed["feedback"]))


async def _ask(sessionmaker: async_sessionmaker, queue: JobQueue, template: Template,
               model: str, form: Any, kind: str, label: str,
               asks: Sequence[tuple[_Open, dict[str, Any]]], params: FireParams,
               on_progress: OnProgress | None) -> list[Judgment | None]:
    """Submit one judgment per ask (deduplicated by key), wait, return each ask's row."""
    keys = [(model, judgment_inputs_hash(template, inputs)) for _, inputs in asks]
    specs: dict[tuple[str, str], JudgmentSpec] = {}
    for key, (o, inputs) in zip(keys, asks, strict=True):
        specs.setdefault(key, JudgmentSpec(template, model, inputs, form=form, meta={
            "fire_dialogue": str(o.dialogue.id), "turn": len(o.turns)}))
    async with sessionmaker() as session:
        run = await submit_run(session, queue, kind=kind, label=label,
                               specs=list(specs.values()),
                               params={"fire": label, "model": model})
    await wait_for_run(sessionmaker, run.id, kind, poll_s=params.poll_s,
                       timeout_s=params.timeout_s, on_progress=on_progress,
                       error=FireRunError)
    async with sessionmaker() as session:
        rows = await rows_by_key(session, template, dict.fromkeys(keys))
    return [rows.get(k) for k in keys]


async def _store_turns(sessionmaker: async_sessionmaker, values: list[dict[str, Any]],
                       teacher: bool) -> None:
    """Insert new turns (student step) or fill in the teacher's reply (teacher step);
    either writes a turn once: a resumed run that redoes a step changes nothing."""
    if not values:
        return
    async with sessionmaker() as session:
        if not teacher:
            insert = insert_for(session)
            await session.execute(insert(FireTurn).values(values).on_conflict_do_nothing(
                index_elements=["dialogue_id", "turn"]))
        else:
            for v in values:
                await session.execute(update(FireTurn).where(
                    FireTurn.dialogue_id == v["dialogue_id"], FireTurn.turn == v["turn"],
                    FireTurn.score.is_(None), FireTurn.failure.is_(None),
                ).values(**{k: x for k, x in v.items() if k not in ("dialogue_id", "turn")}))
        await session.commit()


async def _close_dialogues(sessionmaker: async_sessionmaker, run: FireRun,
                           params: FireParams) -> tuple[int, int, list[_Open]]:
    """Mark finished dialogues; return (finished, total, the open ones)."""
    async with sessionmaker() as session:
        loaded = await load_dialogues(session, run.id)
    opened: list[_Open] = []
    finished = 0
    async with sessionmaker() as session:
        for d, item, rows in loaded:
            turns = [as_turn(r) for r in rows]
            step, status = next_step(turns, tau=params.tau, max_turns=params.max_turns)
            if step == "done":
                finished += 1
                if d.status == "open":
                    failure = next((t.failure for t in turns if t.failure), None)
                    await session.execute(update(FireDialogue).where(
                        FireDialogue.id == d.id, FireDialogue.status == "open",
                    ).values(status=status, failure=failure))
            else:
                opened.append(_Open(d, item, turns))
        await session.commit()
    return finished, len(loaded), opened


async def run_fire(sessionmaker: async_sessionmaker, queue: JobQueue, blobs: LocalBlobStore,
                   params: FireParams, item_set: str, items: Sequence[FireItem], *,
                   on_progress: OnProgress | None = None, on_round: OnRound | None = None
                   ) -> FireRun:
    """Run (or resume) the dialogues of `items` to the end; store the metrics on the run."""
    try:
        check_params(params.tau, params.max_turns, params.feedback)
    except ValueError as exc:
        raise FireRunError(str(exc)) from None
    student_t = _template(params.student_template, "answer")
    teacher_t = _template(params.teacher_template, "teacher")
    async with sessionmaker() as session:
        entries = await check_models(session, queue, [params.student, params.teacher])
    async with sessionmaker() as session:
        rows = await store_items(session, blobs, item_set, items)
        run = await open_run(session, params, item_set, rows)
    student_form, teacher_form = judge_form(entries[params.student]), judge_form(
        entries[params.teacher])
    label = f"fire {params.student} / {params.teacher} on {item_set}"
    for round_ in range(4 * (params.max_turns + 2)):  # a resumed run may need a few more
        finished, total, opened = await _close_dialogues(sessionmaker, run, params)
        if on_round is not None:
            on_round(round_, finished, total)
        students = [o for o in opened if next_step(o.turns, tau=params.tau,
                                                   max_turns=params.max_turns)[0] == "student"]
        teachers = [o for o in opened if o not in students]
        if students:
            asks = [(o, student_inputs(o.item, student_history(o.turns, params.feedback)))
                    for o in students]
            got = await _ask(sessionmaker, queue, student_t, params.student, student_form,
                             STUDENT_KIND, label, asks, params, on_progress)
            values = []
            for o, row in zip(students, got, strict=True):
                answer = answer_text(row) if row is not None and row.status == "done" else None
                failure = None
                if row is None or row.status != "done":
                    failure = f"student: generation failed ({row.error if row else 'no row'})"
                elif not answer.strip():
                    failure = "student: empty answer"
                values.append(dict(id=uuid.uuid4(), dialogue_id=o.dialogue.id,
                                   turn=len(o.turns), answer=answer,
                                   student_judgment_id=row.id if row is not None else None,
                                   leaks=[], failure=failure, created_at=datetime.now(UTC)))
            await _store_turns(sessionmaker, values, teacher=False)
        elif teachers:
            asks = [(o, teacher_inputs(o.item, o.turns[-1].answer or "")) for o in teachers]
            got = await _ask(sessionmaker, queue, teacher_t, params.teacher, teacher_form,
                             TEACHER_KIND, label, asks, params, on_progress)
            values = []
            for o, row in zip(teachers, got, strict=True):
                turn = o.turns[-1].index
                if row is None or row.status != "done":
                    values.append(dict(dialogue_id=o.dialogue.id, turn=turn,
                                       failure="teacher: generation failed "
                                               f"({row.error if row else 'no row'})"))
                    continue
                verdict = teacher_verdict(teacher_reply(row, teacher_t.parser),
                                          question=o.item.question,
                                          ground_truth=o.item.ground_truth)
                values.append(dict(dialogue_id=o.dialogue.id, turn=turn, score=verdict.score,
                                   feedback=verdict.feedback, leaks=list(verdict.leaks),
                                   failure=verdict.failure, teacher_judgment_id=row.id))
            await _store_turns(sessionmaker, values, teacher=True)
        else:
            break
    async with sessionmaker() as session:
        report = await run_report(session, run.id)
        await session.execute(update(FireRun).where(FireRun.id == run.id).values(
            status="done", metrics=report, finished_at=datetime.now(UTC)))
        await session.commit()
        return (await session.scalars(select(FireRun).where(FireRun.id == run.id))).one()


def dialogue_scores(loaded: Sequence[tuple[FireDialogue, FireItemRow, list[FireTurn]]]
                    ) -> list[DialogueScores]:
    return [DialogueScores(tuple(t.score for t in turns if t.score is not None
                                 and t.failure is None), d.status, d.failure, item.kind)
            for d, item, turns in loaded]


async def run_report(session: AsyncSession, run_id: uuid.UUID) -> dict[str, Any]:
    """The run's metrics: overall, per question kind, and the score-per-turn curve."""
    run = (await session.scalars(select(FireRun).where(FireRun.id == run_id))).one()
    scores = dialogue_scores(await load_dialogues(session, run_id))
    return {
        "student": run.student, "teacher": run.teacher, "item_set": run.item_set,
        "tau": run.tau, "max_turns": run.max_turns, "feedback": run.feedback,
        "overall": free_metrics(scores, tau=run.tau).as_dict(),
        "by_kind": {k: m.as_dict() for k, m in by_kind(scores, tau=run.tau).items()},
        "curve": score_curve(scores, run.max_turns),
    }


async def find_runs(session: AsyncSession, ids: Sequence[str] = ()) -> list[FireRun]:
    """Runs by id (prefixes allowed), or the latest 20."""
    query = select(FireRun).order_by(FireRun.created_at.desc())
    runs = list((await session.scalars(query if ids else query.limit(20))).all())
    await session.commit()
    if not ids:
        return runs
    out = []
    for wanted in ids:
        match = [r for r in runs if str(r.id).startswith(wanted)]
        if len(match) != 1:
            raise FireRunError(f"run {wanted!r}: {'no' if not match else 'more than one'} "
                               "run matches")
        out.append(match[0])
    return out


async def stored_items(session: AsyncSession, blobs: LocalBlobStore, item_set: str,
                       count: int | None = None) -> list[FireItem]:
    """The items of a stored set (an operator's `arena fire import`), images from the blob
    store; a seeded sample of `count` of them when given."""
    from app.fire.items import sample

    rows = (await session.scalars(select(FireItemRow).where(FireItemRow.item_set == item_set)
                                  .order_by(FireItemRow.item_id))).all()
    await session.commit()
    if not rows:
        raise FireRunError(f"no item set {item_set!r}: store one with `arena fire import`")
    items = [FireItem(r.item_id, await blobs.get(r.image_sha256), r.question, r.ground_truth,
                      r.kind) for r in rows]
    return sample(items, count)


async def export_run(sessionmaker: async_sessionmaker, blobs: LocalBlobStore, run_id: str,
                     fmt: str, out: Any) -> tuple[Any, int]:
    """Write `<out>/<format>.json` and the images; returns (the file, records)."""
    from pathlib import Path

    from app.fire.export import ExportDialogue, ExportTurn, export_records

    async with sessionmaker() as session:
        run, = await find_runs(session, [run_id])
        loaded = await load_dialogues(session, run.id)
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    dialogues = []
    for d, item, turns in loaded:
        name = f"images/{item.image_sha256}.png"
        if not (out / name).exists():
            (out / name).write_bytes(await blobs.get(item.image_sha256))
        dialogues.append(ExportDialogue(
            item.item_id, name, item.question, item.ground_truth, d.status, d.failure,
            [ExportTurn(t.answer, t.score if t.failure is None else None, t.feedback)
             for t in turns], item.kind))
    records = export_records(dialogues, fmt, run.feedback)
    path = out / f"{fmt}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path, len(records)


async def import_file(sessionmaker: async_sessionmaker, blobs: LocalBlobStore, path: Any,
                      set_name: str, *, image_root: Any = None, skip_bad: bool = False
                      ) -> tuple[int, str]:
    """Store a FIRE test file as an item set: every row is checked first (a refused file
    writes nothing), then all its items in one transaction. Returns (items, summary)."""
    from app.fire.items import read_fire_file

    result = read_fire_file(path, image_root=image_root, skip_bad=skip_bad)
    async with sessionmaker() as session:
        rows = await store_items(session, blobs, set_name, result.items)
        await session.commit()
    return len(rows), result.summary()
