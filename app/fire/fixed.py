"""FIRE's fixed-dialogue setting: the student continues reference dialogues, the teacher
scores reference answers.

A reference dialogue is a FIRE record (`app.fire.export.fire_records`: question, ground
truth, `student_history`, `teacher_history`, `scores`). For each of its turns k, the
student is given the question and the reference turns before k (answers and feedback) and
its answer is compared with the reference answer k (BLEU-1..4, CIDEr); the teacher is given
the reference answer k and its score is compared with the reference score k (MAE, an
unparsable reply counting as an error of 10). Every call is one judge-layer batch job
through the workers, keyed by its inputs: a resumed run asks nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.bench.runner import answer_text, check_models, rows_by_key
from app.fire.items import ItemFileError
from app.fire.metrics import fixed_metrics
from app.fire.runs import FireParams, FireRunError, _template, teacher_reply
from app.judges.inputs import ImageInput
from app.judges.results import TeacherReply
from app.judges.runs import JudgmentSpec, judge_form, submit_run, wait_for_run
from app.judges.templates import judgment_inputs_hash
from app.queue import JobQueue
from app.storage.blobs import LocalBlobStore


@dataclass(frozen=True)
class Reference:
    item_id: str
    image: bytes
    question: str
    ground_truth: str
    answers: tuple[str, ...]
    feedback: tuple[str, ...]
    scores: tuple[int, ...]
    kind: str | None = None


def demo_references(count: int, seed: int = 13) -> list[Reference]:
    """Reference dialogues on held-out scenes: a wrong answer, the demo teacher's feedback
    on it, the right answer; scores as the demo teacher is trained to give them (10 right,
    5 near miss, 2 wrong)."""
    import random

    from app.demo.evaluate import HELD_OUT_SEEDS, examples
    from app.demo.judge_answers import answer_with, grade
    from app.demo.judge_data import teacher_score
    from app.demo.shapes import random_scene, render_png
    from app.demo.student_data import teacher_feedback

    rng = random.Random(seed)
    out = []
    for e in examples(HELD_OUT_SEEDS, count, seed=seed):
        scene = random_scene(e.scene_seed)
        made = answer_with(e.question, scene, rng, "wrong")
        if made is None:
            continue
        wrong = made[0]
        out.append(Reference(
            f"ref-{e.scene_seed}-{e.question.kind}", render_png(scene), e.question.text,
            e.answer, (wrong, e.answer),
            (teacher_feedback(e.question, scene, wrong), "Correct. Nothing to fix."),
            (teacher_score(grade(e.question, scene, wrong)), 10), e.question.kind))
    return out


def read_references(path: Path, image_root: Path | None = None) -> list[Reference]:
    """Reference dialogues from a FIRE JSON file with student_history, teacher_history and
    scores (as `arena fire export --format fire` writes them)."""
    from app.fire.items import read_fire_file

    rows = json.loads(Path(path).read_text(encoding="utf-8"))
    items = {i.item_id: i for i in read_fire_file(path, image_root=image_root).items}
    out = []
    for n, row in enumerate(rows, 1):
        answers, feedback, scores = (row.get(k) for k in ("student_history",
                                                          "teacher_history", "scores"))
        if not (isinstance(answers, list) and isinstance(feedback, list)
                and isinstance(scores, list) and answers
                and len(answers) == len(scores) == len(feedback)
                and all(isinstance(a, str) and a.strip() for a in answers + feedback)
                and all(isinstance(s, int) and 1 <= s <= 10 for s in scores)):
            raise ItemFileError(f"{path}: row {n} needs student_history, teacher_history "
                                "and scores of equal length (scores 1-10)")
        item = items[str(row["id"])]
        out.append(Reference(item.item_id, item.image, item.question, item.ground_truth,
                             tuple(answers), tuple(feedback), tuple(scores), row.get("kind")))
    return out


async def run_fixed(sessionmaker: async_sessionmaker, queue: JobQueue, blobs: LocalBlobStore,
                    params: FireParams, references: Sequence[Reference]) -> dict[str, Any]:
    """Student and teacher on every reference turn; the fixed-dialogue metrics."""
    if not references:
        raise FireRunError("no reference dialogues")
    student_t = _template(params.student_template, "answer")
    teacher_t = _template(params.teacher_template, "teacher")
    async with sessionmaker() as session:
        entries = await check_models(session, queue, [params.student, params.teacher])
    student_asks, teacher_asks, refs, truth_scores = [], [], [], []
    for r in references:
        image = ImageInput(await blobs.put(r.image))
        for k, answer in enumerate(r.answers):
            history = [x for i in range(k) for x in (r.answers[i], r.feedback[i])]
            student_asks.append({"image": image, "question": r.question,
                                 "history": history or None})
            teacher_asks.append({"image": image, "question": r.question,
                                 "ground_truth": r.ground_truth, "answer": answer})
            refs.append([answer])
            truth_scores.append(r.scores[k])
    rows: dict[str, list[Any]] = {}
    for template, model, asks in ((student_t, params.student, student_asks),
                                  (teacher_t, params.teacher, teacher_asks)):
        keys = [(model, judgment_inputs_hash(template, a)) for a in asks]
        specs = {k: JudgmentSpec(template, model, a, form=judge_form(entries[model]))
                 for k, a in zip(keys, asks, strict=True)}
        async with sessionmaker() as session:
            run = await submit_run(session, queue, kind=f"{template.name}-fixed",
                                   label=f"fire fixed {model}", specs=list(specs.values()))
        await wait_for_run(sessionmaker, run.id, template.name, poll_s=params.poll_s,
                           timeout_s=params.timeout_s, error=FireRunError)
        async with sessionmaker() as session:
            found = await rows_by_key(session, template, dict.fromkeys(keys))
        rows[template.name] = [found.get(k) for k in keys]
    hyps = [answer_text(r) if r is not None and r.status == "done" else ""
            for r in rows[student_t.name]]
    predicted: list[int | None] = []
    for r in rows[teacher_t.name]:
        reply = teacher_reply(r, teacher_t.parser) if r is not None and r.status == "done" \
            else None
        predicted.append(reply.score if isinstance(reply, TeacherReply) else None)
    return {"student": params.student, "teacher": params.teacher,
            "dialogues": len(references),
            **fixed_metrics(hyps, refs, predicted, truth_scores)}
