"""Best-of-N validity (VL-RewardBench's claim): does a judge's judge-eval accuracy predict
how much it helps when it picks the best of N answers?

For each judge (the trained demo judge, a weaker checkpoint, a position-biased one):

1. **judge-eval accuracy**: the VL-RewardBench protocol (`app.rewardbench.protocol`: seeded
   random order per repetition, majority over K, accuracy over decided items) on held-out
   demo items whose better answer the shapes checker knows;
2. **best-of-N gain**: on held-out questions, a policy model (`shapes-medium`, sampled at
   temperature 1) answers N times; the judge picks one by a knockout (the champion against
   each next answer, in a random order; an unparsable verdict keeps the champion); the
   gain is the picked answers' accuracy minus a random pick's (the mean over the N),
   with a bootstrap 95% interval over questions.

The judges run in this process with transformers (the prompts exactly as the workers build
them, `app.demo.judge_eval.generate`), greedy: with greedy decoding a repetition in the
same order repeats itself, so each item is judged once per order shown. Prints a table,
writes JSON and a plot.

    nice -n 10 .venv/bin/python benchmarks/bench_best_of_n.py [--questions 200] [--n 4]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.config import REPO_ROOT  # noqa: E402
from app.demo.judge_data import JUDGE_HELD_OUT_SEEDS, REWARD, JudgeItem, make_items  # noqa: E402
from app.demo.questions import is_correct, make_question  # noqa: E402
from app.demo.shapes import random_scene, render, render_png  # noqa: E402
from app.judges import ParseFailure, parse_reward, rewardbench_preferred  # noqa: E402
from app.judges.inputs import ImageInput  # noqa: E402
from app.rewardbench.items import RewardItem  # noqa: E402
from app.rewardbench.protocol import Repetition, score, shown_order  # noqa: E402

DEMO = REPO_ROOT / "models" / "demo"
JUDGES = ("shapes-judge", "shapes-judge-weak", "shapes-judge-biased")
EVAL_SEED, BON_SEED = 31, 41  # item draws of this benchmark (not the card's EVAL_SEED 5)


def load(path: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    return (AutoModelForImageTextToText.from_pretrained(path).eval(),
            AutoProcessor.from_pretrained(path))


def pairwise_item(question: str, kind: str, seed: int, first: str, second: str) -> JudgeItem:
    return JudgeItem(REWARD, kind, {"question": question, "answer_1": first,
                                    "answer_2": second}, seed, "", {})


def judge_calls(judge: tuple[Any, Any], items: list[JudgeItem]) -> list[str]:
    from app.demo.judge_eval import generate

    model, processor = judge
    return generate(model, processor, items, [i.scene_seed for i in items])


def judge_eval_accuracy(judge: tuple[Any, Any], items: list[JudgeItem], k: int,
                        seed: int) -> dict[str, Any]:
    """The protocol on `items` (greedy: one call per item and order shown)."""
    reward_items = [RewardItem(
        f"demo-{n}", i.text_inputs["question"],
        ImageInput.from_bytes(render_png(random_scene(i.scene_seed))),
        (i.text_inputs["answer_1"], i.text_inputs["answer_2"]),
        (0, 1) if i.truth["better"] == 1 else (1, 0), source="vlm-arena")
        for n, i in enumerate(items)]
    orders = {(n, shown_order(seed, r.key, rep)) for n, r in enumerate(reward_items)
              for rep in range(k)}
    calls = sorted(orders)
    outputs = judge_calls(judge, [pairwise_item(
        items[n].text_inputs["question"], items[n].kind, items[n].scene_seed,
        reward_items[n].responses[o[0]], reward_items[n].responses[o[1]]) for n, o in calls])
    said = {c: parse_reward(out) for c, out in zip(calls, outputs, strict=True)}
    results = [(r, [Repetition(shown_order(seed, r.key, rep),
                               said[(n, shown_order(seed, r.key, rep))]) for rep in range(k)])
               for n, r in enumerate(reward_items)]
    return score(results).as_json()


def policy_answers(questions: list[tuple[int, Any]], n: int, seed: int,
                   policy: str = "shapes-medium", temperature: float = 1.0) -> list[list[str]]:
    """N sampled answers of the policy model per (scene seed, question)."""
    import torch

    from app.demo.evaluate import conversation

    model, processor = load(DEMO / policy)
    processor.tokenizer.padding_side = "left"
    torch.manual_seed(seed)
    out: list[list[str]] = []
    for start in range(0, len(questions), 25):
        chunk = questions[start:start + 25]
        texts = [processor.apply_chat_template(conversation(q.text), add_generation_prompt=True)
                 for _, q in chunk]
        batch = processor(images=[render(random_scene(s)) for s, _ in chunk], text=texts,
                          padding=True, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            rows = model.generate(**batch, max_new_tokens=48, do_sample=True,
                                  temperature=temperature, top_k=0, num_return_sequences=n)
        width = batch["input_ids"].shape[1]
        texts_out = [processor.tokenizer.decode(r[width:], skip_special_tokens=True)
                     for r in rows]
        out += [texts_out[i * n:(i + 1) * n] for i in range(len(chunk))]
    return out


def knockout(judge: tuple[Any, Any], questions: list[tuple[int, Any]],
             answers: list[list[str]], seed: int) -> tuple[list[int], int]:
    """The judge's pick per question (index into its answers) and the unparsable count."""
    rng = random.Random(seed)
    champion = [0] * len(questions)
    unparsable = 0
    for challenger in range(1, len(answers[0])):
        shown = [(champion[q], challenger) if rng.random() < 0.5 else (challenger, champion[q])
                 for q in range(len(questions))]
        outputs = judge_calls(judge, [pairwise_item(
            question.text, question.kind, scene_seed, answers[q][s[0]], answers[q][s[1]])
            for q, ((scene_seed, question), s) in enumerate(zip(questions, shown,
                                                                strict=True))])
        for q, out in enumerate(outputs):
            verdict = parse_reward(out)
            if isinstance(verdict, ParseFailure):
                unparsable += 1
                continue
            champion[q] = shown[q][rewardbench_preferred(verdict, (0, 1))]  # type: ignore[index]
    return champion, unparsable


def bootstrap_gain(picked: list[float], random_pick: list[float], rounds: int = 2000,
                   seed: int = 0) -> tuple[float, float]:
    import numpy as np

    diff = np.asarray(picked) - np.asarray(random_pick)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), (rounds, len(diff)))].mean(1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for n, r in enumerate(rows):
        lo, hi = r["gain_ci95"]
        overall = r["judge_eval"]["overall"]
        if overall["accuracy"] is None:  # no parsable verdict: no place on the x axis
            continue
        x = 100 * overall["accuracy"]
        x_lo, x_hi = (100 * v for v in overall["ci95"])
        ax.errorbar(x, 100 * r["gain"], xerr=[[x - x_lo], [x_hi - x]],
                    yerr=[[100 * (r["gain"] - lo)], [100 * (hi - r["gain"])]], fmt="o",
                    capsize=4)
        ax.annotate(r["judge"], (x, 100 * r["gain"]), textcoords="offset points",
                    xytext=(6, 8 if n % 2 == 0 else -16), fontsize=8)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("judge-eval accuracy (%), VL-RewardBench protocol")
    ax.set_ylabel(f"best-of-{rows[0]['n']} gain over a random pick (points)")
    ax.set_title("Does judge-eval accuracy predict best-of-N gain?")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judges", default=",".join(JUDGES))
    parser.add_argument("--items", type=int, default=150, help="judge-eval items")
    parser.add_argument("--k", type=int, default=5, help="judge-eval repetitions")
    parser.add_argument("--questions", type=int, default=200, help="best-of-N questions")
    parser.add_argument("--n", type=int, default=4, help="answers per question")
    parser.add_argument("--policy", default="shapes-medium")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results")
    parser.add_argument("--merge", action="store_true",
                        help="keep the other judges' rows of an earlier run with the same "
                             "settings (the draws are seeded, so they are comparable)")
    args = parser.parse_args()
    import torch
    from rich.console import Console
    from rich.table import Table

    torch.set_num_threads(1)
    started = time.monotonic()
    eval_items = make_items(REWARD, JUDGE_HELD_OUT_SEEDS, args.items, seed=EVAL_SEED)
    rng = random.Random(BON_SEED)
    questions = []
    for scene_seed in rng.sample(JUDGE_HELD_OUT_SEEDS, args.questions):
        questions.append((scene_seed, make_question(random_scene(scene_seed), rng)))
    answers = policy_answers(questions, args.n, BON_SEED, args.policy)
    correct = [[float(is_correct(q, random_scene(s), a)) for a in answers[i]]
               for i, (s, q) in enumerate(questions)]
    random_pick = [sum(c) / len(c) for c in correct]
    rows = []
    for name in args.judges.split(","):
        t = time.monotonic()
        judge = load(DEMO / name)
        je = judge_eval_accuracy(judge, eval_items, args.k, seed=0)
        picks, unparsable = knockout(judge, questions, answers, seed=BON_SEED)
        picked = [correct[q][p] for q, p in enumerate(picks)]
        gain = (sum(picked) - sum(random_pick)) / len(questions)
        rows.append({"judge": name, "judge_eval": je, "n": args.n,
                     "picked_accuracy": sum(picked) / len(questions),
                     "random_accuracy": sum(random_pick) / len(questions),
                     "oracle_accuracy": sum(max(c) for c in correct) / len(questions),
                     "gain": gain, "gain_ci95": bootstrap_gain(picked, random_pick),
                     "knockout_unparsable": unparsable, "seconds": round(time.monotonic() - t)})
        print(f"{name}: judge-eval {je['overall']['accuracy']:.3f}, gain {gain:+.3f}", flush=True)
    result_file = args.out / "best_of_n.json"
    settings = {k: str(v) for k, v in vars(args).items() if k not in ("judges", "merge")}
    if args.merge and result_file.exists():
        earlier = json.loads(result_file.read_text())
        if {k: v for k, v in earlier["args"].items() if k not in ("judges", "merge")} \
                != settings:
            raise SystemExit(f"{result_file} was made with other settings: {earlier['args']}")
        ran = {r["judge"] for r in rows}
        rows = [r for r in earlier["rows"] if r["judge"] not in ran] + rows
    table = Table(title=f"best-of-{args.n} ({args.policy} sampled at T=1, {args.questions} "
                        f"held-out questions) vs judge-eval ({args.items} items, K={args.k})")
    for col in ("judge", "judge-eval acc %", "95% CI", "position consistency %",
                "unparsable %", "best-of-N acc %", "random pick %", "gain (points)",
                "gain 95% CI"):
        table.add_column(col, justify="left" if col == "judge" else "right")
    for r in rows:
        o = r["judge_eval"]
        lo, hi = o["overall"]["ci95"] or (float("nan"), float("nan"))
        table.add_row(r["judge"], f"{100 * o['overall']['accuracy']:.1f}",
                      f"{100 * lo:.1f}–{100 * hi:.1f}", f"{100 * o['position_consistency']:.1f}",
                      f"{100 * o['parse_failure_rate']:.1f}",
                      f"{100 * r['picked_accuracy']:.1f}", f"{100 * r['random_accuracy']:.1f}",
                      f"{100 * r['gain']:+.1f}",
                      f"{100 * r['gain_ci95'][0]:+.1f} – {100 * r['gain_ci95'][1]:+.1f}")
    Console(width=170).print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    result_file.write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows,
         "oracle_accuracy": rows[0]["oracle_accuracy"] if rows else None,
         "seconds": round(time.monotonic() - started)}, indent=2) + "\n")
    plot(rows, args.out / "best_of_n.png")
    print(f"wrote {args.out / 'best_of_n.json'} and best_of_n.png in "
          f"{time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
