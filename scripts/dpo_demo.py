"""The demo proof that the arena's preference data makes a model better, with controls.

1. collect: a weak demo model (shapes-small) samples k answers per training question; the
   demo judge (shapes-judge) rates them with the VLFeedback template (one prompt per
   question, all k answers) and app/feedback's pair rule makes AI pairs; simulated voters
   (app/demo/voter.py) vote on two sampled answers per question, and their decisive votes
   make human pairs. The judge runs in this process (transformers, batched) rather than
   through the workers: the same prompts, the volume is the reason. Written with the DPO
   export (app/feedback/dpo_export.py).
2. train: four runs with the same steps, batch, learning rate and seed: DPO on the pairs,
   DPO on shuffled pairs, DPO on "longest answer is best" pairs, SFT on the chosen answers
   (`app.training.fine_tune`, what `arena train dpo|sft` runs).
3. measure: every run and the base on held-out questions (scene seeds disjoint from
   training), paired differences with 95% bootstrap intervals and McNemar; then simulated
   arena battles (voters + Bradley-Terry, base as the anchor).

    nice -n 10 .venv/bin/python scripts/dpo_demo.py [--work var/dpo-demo] [--ship]

`--ship` copies the DPO run's folder to models/demo/shapes-small-dpo. Results: WORK/results.json,
WORK/results.md (the table) and WORK/dpo_demo.png.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from app.demo.evaluate import TRAIN_SEEDS, Example, examples, generate_answers
from app.demo.judge_data import RATINGS, JudgeItem
from app.demo.judge_eval import generate as judge_generate
from app.demo.judge_eval import template_of
from app.demo.questions import is_correct
from app.demo.shapes import random_scene, render_png
from app.demo.voter import SimulatedVoter
from app.feedback.dpo_export import DpoRow, write_dpo_dataset
from app.feedback.pairs import FeedbackItem, ai_pairs
from app.judges import ParseFailure, parse_output
from app.training.base import load_model
from app.training.fine_tune import RunRequest, fine_tune
from app.training.heldout import held_out_questions, paired_difference
from app.training.settings import TrainSettings

BASE, JUDGE = "shapes-small", "shapes-judge"
RUNS = {  # name -> (method, pair labels)
    "dpo": ("dpo", "as-labelled"),
    "dpo-shuffled": ("dpo", "shuffled"),
    "dpo-longest": ("dpo", "longest"),
    "sft-chosen": ("sft", "as-labelled"),
}
SAMPLING = {"do_sample": True, "temperature": 1.0, "top_p": 1.0}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def sample(model_dir: Path, items: list[Example], k: int, seed: int) -> list[list[str]]:
    model, processor = load_model(model_dir)
    torch.manual_seed(seed)
    return generate_answers(model, processor, items, samples=k, **SAMPLING)


def judge_ratings(items: list[Example], answers: list[list[str]], cache: Path) -> list[Any]:
    """The demo judge's parsed VLFeedback ratings per item (None: unparsable). Raw outputs
    are kept in `cache` chunk by chunk, so a stopped collection resumes."""
    from rich.progress import track

    model, processor = load_model(Path("models/demo") / JUDGE)
    jobs = [JudgeItem(RATINGS, e.question.kind, {"question": e.question.text, "answers": a},
                      e.scene_seed, "") for e, a in zip(items, answers, strict=True)]
    outputs: list[str] = json.loads(cache.read_text()) if cache.exists() else []
    chunk = 128
    for start in track(range(len(outputs), len(jobs), chunk), description="judge"):
        part = jobs[start:start + chunk]
        outputs += judge_generate(model, processor, part, [j.scene_seed for j in part],
                                  batch_size=chunk)
        cache.write_text(json.dumps(outputs))
    parsed = [parse_output(template_of(j), o, j.inputs()) for j, o in zip(jobs, outputs,
                                                                            strict=True)]
    return [None if isinstance(p, ParseFailure) else p for p in parsed]


def _image(e: Example) -> tuple[bytes, str]:
    png = render_png(random_scene(e.scene_seed))
    return png, hashlib.sha256(png).hexdigest()


def collect(work: Path, ai_questions: int, human_questions: int, k: int) -> dict[str, Any]:
    base_dir = Path("models/demo") / BASE
    ai_items = examples(TRAIN_SEEDS, ai_questions, seed=101)
    log(f"sampling {k} answers to {ai_questions} training questions from {BASE}")
    answers_file = work / "ai-answers.json"
    if not answers_file.exists():
        answers_file.write_text(json.dumps(sample(base_dir, ai_items, k, seed=1)))
    ai_answers = json.loads(answers_file.read_text())
    log(f"rating them with {JUDGE} (vlfeedback-ratings@1, in-process)")
    ratings = judge_ratings(ai_items, ai_answers, work / "judge-outputs.json")
    empty = 0
    rows: list[DpoRow] = []
    quality = {"ai": [0, 0, 0], "human": [0, 0, 0]}  # right>wrong, wrong>right, other

    def count(source: str, e: Example, chosen: str, rejected: str) -> None:
        scene = random_scene(e.scene_seed)
        c, r = is_correct(e.question, scene, chosen), is_correct(e.question, scene, rejected)
        quality[source][0 if c and not r else 1 if r and not c else 2] += 1

    for n, (e, answers, rating) in enumerate(zip(ai_items, ai_answers, ratings, strict=True)):
        png, sha = _image(e)
        item = FeedbackItem(id=f"ai-{n}", prompt=e.question.text, image_sha256=sha,
                            models=(BASE,) * k, answers=tuple(answers), judge=JUDGE,
                            ratings=rating, failure=None if rating else "unparsable")
        for p in ai_pairs(item):
            if not (p.chosen.strip() and p.rejected.strip()):
                empty += 1  # a sampled answer that is only whitespace: no pair to learn from
                continue
            count("ai", e, p.chosen, p.rejected)
            rows.append(DpoRow(p.id, p.prompt, p.chosen, p.rejected, (png,), "ai",
                               p.chosen_model, p.rejected_model, p.chosen_score,
                               p.rejected_score, p.judge, p.judge_rates_itself,
                               p.chosen_is_longest))
    human_items = examples(TRAIN_SEEDS, human_questions, seed=102)
    log(f"sampling 2 answers to {human_questions} questions for simulated voters")
    human_answers = sample(base_dir, human_items, 2, seed=2)
    voter = SimulatedVoter(noise=0.1, seed=7)
    votes = {"model_a": 0, "model_b": 0, "tie": 0, "tie (bothbad)": 0}
    for n, (e, (a, b)) in enumerate(zip(human_items, human_answers, strict=True)):
        vote = voter.vote(e.question, random_scene(e.scene_seed), a, b)
        votes[vote] += 1
        if vote not in ("model_a", "model_b") or a.strip() == b.strip() or not (
                a.strip() and b.strip()):
            continue
        chosen, rejected = (a, b) if vote == "model_a" else (b, a)
        count("human", e, chosen, rejected)
        rows.append(DpoRow(f"human-{n}", e.question.text, chosen, rejected, (_image(e)[0],),
                           "human", BASE, BASE))
    manifest = write_dpo_dataset(rows, work / "pairs", overwrite=True)
    stats = {"ai_questions": ai_questions, "k": k, "human_questions": human_questions,
             "unparsable_ratings": sum(r is None for r in ratings),
             "ai_pairs_with_an_empty_answer_dropped": empty,
             "sampled_right": round(sum(is_correct(e.question, random_scene(e.scene_seed), a)
                                        for e, ans in zip(ai_items, ai_answers, strict=True)
                                        for a in ans) / (k * ai_questions), 3),
             "votes": votes, "pairs": manifest.rows, "counts": manifest.counts,
             "pair_quality": {s: dict(zip(("right_over_wrong", "wrong_over_right", "other"),
                                          q, strict=True)) for s, q in quality.items()}}
    (work / "collect.json").write_text(json.dumps(stats, indent=2))
    log(f"pairs: {json.dumps(stats)}")
    return stats


VALIDATION_SEEDS = range(11_000_000, 11_500_000)  # neither training nor held-out scenes


def sweep(work: Path, grid: list[tuple[float, float, float]], steps: int, batch_size: int,
          questions: int) -> list[dict[str, Any]]:
    """DPO at each (lr, beta) scored on validation questions: how the settings of the
    main table were chosen, without looking at the held-out questions."""
    from app.training.heldout import correctness

    items = examples(VALIDATION_SEEDS, questions, seed=9)
    base = correctness(*load_model(Path("models/demo") / BASE), items)
    found = []
    for lr, beta, sft_weight in grid:
        name = f"lr{lr}-beta{beta}-sft{sft_weight}"
        out = work / "sweep" / name
        if out.exists():
            shutil.rmtree(out)
        fine_tune(RunRequest("dpo", BASE, work / "pairs", out, TrainSettings(
            steps=steps, lr=lr, beta=beta, sft_weight=sft_weight, batch_size=batch_size),
            eval_questions=0), progress=False)
        right = correctness(*load_model(out), items)
        d = paired_difference(base, right)
        found.append({"lr": lr, "beta": beta, "sft_weight": sft_weight, "steps": steps,
                      **d.as_json()})
        log(f"sweep {name}: {d.base:.1%} -> {d.tuned:.1%} ({d.low:+.1%} to {d.high:+.1%})")
        shutil.rmtree(out)
        (work / "sweep" / f"{name}.json").write_text(json.dumps(found[-1], indent=2))
    return found


def battles(work: Path, folders: dict[str, Path], count: int) -> dict[str, Any]:
    """Simulated arena battles among base and runs: random pairs, random sides, voters;
    Bradley-Terry with the base as the anchor (1000)."""
    import numpy as np

    from app.ranking.battles import OUTCOMES, Battles
    from app.ranking.bradley_terry import fit_bradley_terry

    items = held_out_questions(count, seed=4)
    names = list(folders)
    answers = {}
    for name, folder in folders.items():
        model, processor = load_model(folder)
        torch.manual_seed(5)
        answers[name] = [a for (a,) in generate_answers(
            model, processor, items, do_sample=True, temperature=0.2, top_p=1.0)]  # registry
    rng = random.Random(6)
    voter = SimulatedVoter(noise=0.1, seed=8)
    a_idx, b_idx, outcome = [], [], []
    for n, e in enumerate(items):
        a, b = rng.sample(range(len(names)), 2)
        vote = voter.vote(e.question, random_scene(e.scene_seed), answers[names[a]][n],
                          answers[names[b]][n])
        a_idx.append(a)
        b_idx.append(b)
        outcome.append(OUTCOMES.index(vote))
    fit = fit_bradley_terry(Battles(tuple(names), np.array(a_idx), np.array(b_idx),
                                    np.array(outcome)), anchor=BASE, n_bootstrap=1000)
    boot = fit.intervals["bootstrap"]
    return {"battles": count, "voter_noise": 0.1, "ratings": {
        name: {"rating": round(float(fit.ratings[i]), 1), "low": round(float(boot.lower[i]), 1),
               "high": round(float(boot.upper[i]), 1), "battles": int(fit.n_battles[i])}
        for i, name in enumerate(names)}}


def pair_line(results: dict[str, Any]) -> str:
    if "arena_pair" not in results:
        return ""
    r = results["arena_pair"]["ratings"]["dpo"]
    return (f"\nBase vs dpo only, {results['arena_pair']['battles']} simulated battles: dpo "
            f"{r['rating']:.0f} (95% CI {r['low']:.0f} to {r['high']:.0f}) against the base's "
            f"1000, a gap of {r['rating'] - 1000:+.0f}.\n")


def table(results: dict[str, Any]) -> str:
    rows = ["| run | pairs | held-out accuracy | vs base (95% CI) | McNemar p | DPO minus run "
            "(95% CI) | arena rating (95% CI) |", "|---|---|---|---|---|---|---|"]
    arena = results["arena"]["ratings"]
    base = results["base"]
    rows.append(f"| {BASE} (base) | – | {base['accuracy']:.1%} | – | – | "
                f"{results['dpo_vs']['base']} | {arena[BASE]['rating']:.0f} (anchor) |")
    for name, run in results["runs"].items():
        ev = run["evaluation"]
        a = arena[name]
        rows.append(f"| {name} | {run['pairs']} | {ev['tuned']:.1%} | {ev['diff']:+.1%} "
                    f"({ev['low']:+.1%} to {ev['high']:+.1%}) | {ev['mcnemar_p']:.2g} | "
                    f"{results['dpo_vs'].get(name, '–')} | {a['rating']:.0f} "
                    f"({a['low']:.0f} to {a['high']:.0f}) |")
    return "\n".join(rows)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [BASE, *results["runs"]]
    acc = [results["base"]["accuracy"]] + [r["evaluation"]["tuned"]
                                           for r in results["runs"].values()]
    arena = results["arena"]["ratings"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    left.bar(names, [100 * a for a in acc], color=["grey", "tab:green", "tab:orange",
                                                    "tab:orange", "tab:orange"])
    left.set_ylabel("held-out accuracy (%)")
    left.set_title(f"{results['base']['questions']} held-out questions")
    rating = [arena[n]["rating"] for n in names]
    err = [[r - arena[n]["low"] for n, r in zip(names, rating, strict=True)],
           [arena[n]["high"] - r for n, r in zip(names, rating, strict=True)]]
    right.errorbar(names, rating, yerr=err, fmt="o", capsize=4)
    right.axhline(arena[BASE]["rating"], color="grey", lw=0.8)
    right.set_title(f"simulated arena ({results['arena']['battles']} battles, 95% CI)")
    right.set_ylabel("Bradley-Terry rating")
    for ax in (left, right):
        ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("var/dpo-demo"))
    parser.add_argument("--ai-questions", type=int, default=3000)
    parser.add_argument("--human-questions", type=int, default=1500)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--eval-questions", type=int, default=1000)
    parser.add_argument("--battles", type=int, default=3000)
    parser.add_argument("--pair-battles", type=int, default=4000,
                        help="then battles between the base and the DPO run only")
    parser.add_argument("--only", choices=list(RUNS), action="append")
    parser.add_argument("--recollect", action="store_true")
    parser.add_argument("--ship", action="store_true")
    parser.add_argument("--sweep", help="only score DPO settings 'lr:beta:sft_weight,...' on "
                        "validation questions (how the settings were chosen)")
    parser.add_argument("--sft-weight", type=float, default=0.0)
    parser.add_argument("--reuse", action="store_true",
                        help="keep runs already trained with the same settings")
    parser.add_argument("--no-arena", action="store_true", help="train and score only")
    args = parser.parse_args()
    torch.set_num_threads(1)  # a shared 2-core machine
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if args.recollect or not (work / "collect.json").exists():
        collect(work, args.ai_questions, args.human_questions, args.k)
    stats = json.loads((work / "collect.json").read_text())
    if args.sweep:
        grid = [tuple(float(x) for x in g.split(":")) for g in args.sweep.split(",")]
        sweep(work, grid, args.steps, args.batch_size, 500)  # type: ignore[arg-type]
        return
    settings = TrainSettings(steps=args.steps, lr=args.lr, beta=args.beta,
                             sft_weight=args.sft_weight, batch_size=args.batch_size, seed=0)
    runs: dict[str, Any] = {}
    for name, (method, labels) in RUNS.items():
        if args.only and name not in args.only:
            continue
        out = work / "models" / f"{BASE}-{name}"
        done = out / "training.json"
        if args.reuse and done.exists() and json.loads(done.read_text())["settings"] == (
                settings.as_json()):
            facts = json.loads(done.read_text())  # trained by an earlier (parallel) invocation
        else:
            if out.exists():
                shutil.rmtree(out)
            log(f"run {name}: {method} on {labels} pairs, {settings}")
            facts = fine_tune(RunRequest(method, BASE, work / "pairs", out, settings,  # type: ignore[arg-type]
                                         labels=labels,  # type: ignore[arg-type]
                                         eval_questions=args.eval_questions,
                                         name=f"{BASE}-{name}"))
        ev = facts["evaluation"]
        log(f"  {name}: {ev['base']:.1%} -> {ev['tuned']:.1%} ({ev['low']:+.1%} to "
            f"{ev['high']:+.1%}), trained {facts['train_seconds']:.0f} s")
        runs[name] = {"pairs": facts["data"]["rows"], "evaluation": ev, "out": str(out),
                      "train_seconds": facts["train_seconds"]}
    if args.no_arena:
        return
    first = next(iter(runs.values()))["evaluation"]
    base_right = first["right_base"]
    results: dict[str, Any] = {
        "settings": settings.as_json(), "collect": stats,
        "base": {"accuracy": sum(base_right) / len(base_right), "questions": len(base_right)},
        "runs": {k: {**v, "evaluation": {x: y for x, y in v["evaluation"].items()
                                          if not x.startswith("right_")}}
                 for k, v in runs.items()},
    }
    dpo_vs: dict[str, str] = {}
    if "dpo" in runs:
        dpo = runs["dpo"]["evaluation"]["right_tuned"]
        for name, run in [("base", None), *runs.items()]:
            if name == "dpo":
                continue
            other = base_right if run is None else run["evaluation"]["right_tuned"]
            d = paired_difference([bool(x) for x in other], [bool(x) for x in dpo])
            dpo_vs[name] = f"{d.diff:+.1%} ({d.low:+.1%} to {d.high:+.1%})"
    results["dpo_vs"] = dpo_vs
    log(f"arena: {args.battles} simulated battles")
    folders = {BASE: Path("models/demo") / BASE} | {
        k: Path(v["out"]) for k, v in runs.items()}
    results["arena"] = battles(work, folders, args.battles)
    if args.pair_battles and "dpo" in runs:  # base against the tuned model only
        log(f"arena, base vs dpo: {args.pair_battles} simulated battles")
        results["arena_pair"] = battles(work, {BASE: folders[BASE], "dpo": folders["dpo"]},
                                        args.pair_battles)
    results["wall_seconds"] = round(time.monotonic() - started)
    (work / "results.json").write_text(json.dumps(results, indent=2))
    (work / "results.md").write_text(table(results) + "\n" + pair_line(results))
    plot(results, work / "dpo_demo.png")
    print(table(results))
    if args.ship and "dpo" in runs:
        ship = Path("models/demo") / f"{BASE}-dpo"
        if ship.exists():
            shutil.rmtree(ship)
        shutil.copytree(runs["dpo"]["out"], ship)
        log(f"shipped {ship}")


if __name__ == "__main__":
    main()
