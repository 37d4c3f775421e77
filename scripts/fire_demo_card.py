"""Write the FIRE student's model card from the reports of scripts/fire_demo.sh.

Reads `<dir>/<model>-<feedback>.json` (arena fire run --out) and `<dir>/<model>-fixed.json`
(arena fire fixed --out) for the student and its base, each run's dialogues exported to
`<exports>/<model>-<feedback>/fire.json` (checked against the shapes truth), and the
held-out turn-0 accuracy of both (their eval.json); writes
models/demo/shapes-fire-student/MODEL_CARD.md and prints the README's table.

    .venv/bin/python scripts/fire_demo_card.py models/demo/shapes-fire-student/fire EXPORTS
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.fire.metrics import METRICS_VERSION, TABLE_HEADER, FreeMetrics, fmt, table_rows  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STUDENT, BASE = "shapes-fire-student", "shapes-medium"
MODES = ("teacher", "uninformative")


def _md(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def free_table(reports: dict[tuple[str, str], dict[str, Any]]) -> str:
    rows = []
    for (model, mode), r in reports.items():
        rows += table_rows({f"{model}, {mode} feedback": FreeMetrics(**r["overall"])})
    return _md(["run", *TABLE_HEADER[1:]], rows)


def kind_table(reports: dict[tuple[str, str], dict[str, Any]]) -> str:
    kinds = sorted({k for r in reports.values() for k in r["by_kind"]})
    rows = []
    for (model, mode), r in reports.items():
        cells = []
        for k in kinds:
            m = r["by_kind"].get(k)
            cells.append("–" if m is None else f"{fmt(m['rr'], True)} of {m['rr_base']}")
        rows.append([f"{model}, {mode}", *cells])
    return _md(["RR by question kind", *kinds], rows)


def rr_without_yes_no(report: dict[str, Any]) -> tuple[float | None, int]:
    """RR over the kinds whose answer can not be fixed by flipping yes/no (all but
    `exists`), and its denominator."""
    kinds = [m for k, m in report["by_kind"].items() if k != "exists" and m["rr_base"]]
    base = sum(m["rr_base"] for m in kinds)
    recovered = sum(round(m["rr"] * m["rr_base"]) for m in kinds)
    return (recovered / base if base else None), base


def checked(export: Path) -> dict[str, Any]:
    """The shapes checker's view of a run's dialogues (`arena fire export --format fire`):
    is the first answer right, is the last? Checker RR = last right among first wrong."""
    from app.demo.questions import is_correct
    from app.demo.shapes import random_scene

    first_wrong = recovered = last_right = 0
    kinds: dict[str, list[int]] = {}  # kind -> [first wrong, recovered]
    records = json.loads(export.read_text())
    for r in records:
        scene = random_scene(int(r["id"].split("-")[1]))  # demo-<scene seed>-<kind>
        answers = r["student_history"]
        if not answers:
            continue
        right = [is_correct(r["raw"]["question"], scene, a) for a in answers]
        last_right += right[-1]
        if not right[0]:
            first_wrong += 1
            recovered += right[-1]
            k = kinds.setdefault(r["kind"], [0, 0])
            k[0] += 1
            k[1] += right[-1]
    return {"dialogues": len(records), "first_wrong": first_wrong, "recovered": recovered,
            "rr": recovered / first_wrong if first_wrong else None,
            "last_right": last_right / len(records), "by_kind": kinds}


def main() -> None:
    folder, exports = Path(sys.argv[1]), Path(sys.argv[2])
    reports = {(m, f): json.loads((folder / f"{m}-{f}.json").read_text())
               for m in (BASE, STUDENT) for f in MODES}
    fixed = {m: json.loads((folder / f"{m}-fixed.json").read_text()) for m in (BASE, STUDENT)}
    evals = {m: json.loads((ROOT / "models" / "demo" / m / "eval.json").read_text())
             for m in (BASE, STUDENT)}
    o = {k: r["overall"] for k, r in reports.items()}
    truth: dict[tuple[str, str], dict[str, Any]] = {
        k: checked(exports / f"{k[0]}-{k[1]}" / "fire.json") for k in reports}
    (folder / "checker.json").write_text(json.dumps(
        {f"{m}-{f}": v for (m, f), v in truth.items()}, indent=2) + "\n")
    truth_md = _md(["checked by the shapes checker", "first answer wrong", "right at the end",
                    "checker RR", "last answer right"],
                   [[f"{m}, {f} feedback", str(v["first_wrong"]), str(v["recovered"]),
                     fmt(v["rr"], True), fmt(v["last_right"], True)]
                    for (m, f), v in truth.items()])
    truth_kinds = sorted({k for v in truth.values() for k in v["by_kind"]})
    truth_kind_md = _md(["checker RR by kind", *truth_kinds], [
        [f"{m}, {f}", *(f"{v['by_kind'][k][1]} of {v['by_kind'][k][0]}"
                        if k in v["by_kind"] else "–" for k in truth_kinds)]
        for (m, f), v in truth.items()])
    gain = {f: o[(STUDENT, f)]["adr"] - o[(BASE, f)]["adr"] for f in MODES}
    rr_gain = {f: o[(STUDENT, f)]["rr"] - o[(BASE, f)]["rr"] for f in MODES}
    turn0 = _md(["held-out turn-0 accuracy (300 questions)", "overall",
                 *evals[BASE]["by_kind"]],
                [[m, f"{evals[m]['accuracy']:.1%}",
                  *(f"{v:.0%}" for v in evals[m]["by_kind"].values())] for m in (BASE, STUDENT)])
    fixed_md = _md(["fixed dialogues", "answers", "BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4",
                    "CIDEr", "teacher MAE"],
                   [[m, str(f["answers"]), *(f"{f[f'bleu{n}']:.1f}" for n in range(1, 5)),
                     f"{f['cider']:.3f}", f"{f['teacher_mae']:.2f}"] for m, f in fixed.items()])
    without_yes_no = ", ".join(
        f"{fmt(rr, True)} of {n} for {m} ({f})" for (m, f), r in reports.items()
        for rr, n in [rr_without_yes_no(r)])
    first = {"student": o[(STUDENT, "teacher")]["started_above"],
             "base": o[(BASE, "teacher")]["started_above"]}
    stages = "\n".join(
        f"{n}. {st['steps']} steps, {st['dialogues']} dialogues, batch {st['batch_size']}, "
        f"AdamW lr {st['lr']}, seed {st['seed']}, uninformative feedback after "
        f"{st.get('uninformative_after', 'any')} answers, from "
        f"{'stage 1' if st.get('init') else '`' + st['base'] + '`'}"
        for n, st in enumerate(evals[STUDENT].get("stages", [evals[STUDENT]["recipe"]]), 1))
    n_items = o[(STUDENT, "teacher")]["dialogues"]
    teacher = reports[(STUDENT, "teacher")]["teacher"]
    table = free_table(reports)
    card = f"""# {STUDENT}

The demo world's feedback-trained FIRE student (issue 11): a tiny LLaVA of exactly the size
and architecture of `{BASE}` (its untrained base: the comparison below), warm-started from
its weights and trained further on a mix of plain answers and shapes-world refinement
dialogues in which the demo teacher's feedback names the error and the next answer fixes it
(`app/demo/student_data.py`: 35% plain, 37% one refinement, 13% two, 15% uninformative
feedback in phrases other than the control's "Try again."), by `scripts/train_demo_student.py`
on one CPU thread of a shared machine, in two stages:

{stages}

Stage 1 gives uninformative feedback after right and wrong answers alike; stage 2 only after
right answers (after stage 1 the student fixed wrong answers after "Try again." nearly as
often as after the teacher's feedback; stage 2 teaches that feedback naming nothing is no
reason to change an answer). The conversation is rendered by the student template
`fire-student@1` exactly as the workers render it in `arena fire run`.

## FIRE with the demo teacher

`arena fire run` on the real stack (PostgreSQL, Redis, one worker process per model), the
teacher `{teacher}` (fire-teacher@1, short form), {n_items} held-out demo items (the same
items for every row), tau 8, N 3, greedy decoding. Metrics {METRICS_VERSION} (our
reconstructed definitions: README, "FIRE").

{table}

- **Teacher's scores** (what FIRE measures): with the teacher's feedback the student's RR
  exceeds the base's by {rr_gain['teacher']:+.0%} and its ADR by {gain['teacher']:+.2f};
  with uninformative feedback by {rr_gain['uninformative']:+.0%} and
  {gain['uninformative']:+.2f}.
- **The truth** (the shapes checker on every answer, table below): the student fixes
  {truth[(STUDENT, 'teacher')]['recovered']} of its {truth[(STUDENT, 'teacher')]['first_wrong']}
  wrong first answers with the teacher's feedback and
  {truth[(STUDENT, 'uninformative')]['recovered']} with "Try again."; the base
  {truth[(BASE, 'teacher')]['recovered']} of {truth[(BASE, 'teacher')]['first_wrong']} and
  {truth[(BASE, 'uninformative')]['recovered']}.
- **Control, turn 0**: the first answer is at least as accurate as the base's: on the FIRE
  items the teacher scores it >= tau for {first['student']} of {n_items} (student) and
  {first['base']} (base); held out, by the shapes checker:

{turn0}

- **Control, per question kind**: flipping a yes/no answer after "wrong" is not refinement,
  so the kinds that need another look at the image (all but `exists`) are the evidence:
  there RR is {without_yes_no}.

{kind_table(reports)}

![score against turn](fire/score-per-turn.png)

## Fixed dialogues

`arena fire fixed` on 100 demo reference dialogues (a wrong answer, the teacher's feedback,
the right answer): the student's continuation of each turn against the reference answer,
and the teacher's score of each reference answer against the reference score.

{fixed_md}

## The teacher's scores against the truth

The demo items' truth is known, so every dialogue's answers can also be checked by the
shapes checker (`app/demo/questions.py: is_correct`) instead of the teacher:

{truth_md}

{truth_kind_md}

Reproduce the model (about 55 min on one shared CPU thread; stage 1 lands in
models/demo/shapes-fire-student-s1, remove it afterwards):

```sh
nice -n 10 .venv/bin/python scripts/train_demo_student.py --name shapes-fire-student-s1
nice -n 10 .venv/bin/python scripts/train_demo_student.py \\
  --init models/demo/shapes-fire-student-s1 --steps 600 --lr 5e-4 --dialogues 6000 \\
  --seed 67 --uninformative-after right
```

Reproduce the figures: `scripts/fire_demo.sh` (README, "FIRE"), then
`.venv/bin/python scripts/fire_demo_card.py {folder} EXPORTS`.
"""
    (ROOT / "models" / "demo" / STUDENT / "MODEL_CARD.md").write_text(card)
    print(table)
    print()
    print(kind_table(reports))
    print()
    print(truth_md)
    print()
    print(truth_kind_md)
    print()
    print(fixed_md)
    print(f"\nADR gain {gain}, RR gain {rr_gain}\nRR without yes/no: {without_yes_no}")


if __name__ == "__main__":
    main()
