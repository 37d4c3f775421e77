"""VLFeedback on the demo world, at a size a test can not afford: the demo judge's ratings
against the shapes checker and against simulated people.

    nice -n 10 .venv/bin/python benchmarks/bench_feedback.py --prompts 120 --battles 120

Three demo models (shapes-lite, -medium, -xl) answer N imported prompts through the
workers, shapes-judge rates the three answers of each in one call (k=3, its contract);
then N battles between two of those answers (the weakest model against another) are voted
by simulated people who know the truth (10% random votes) and rated again with the third
answer. Reported: parse rate; per-answer agreement of the judge's helpfulness call with the
checker (its card: 71.7%); how often an AI pair chooses the right answer over a wrong one,
against the "longest answer is best" control on the same pairs; AI-human agreement with
its Wilson interval (VLFeedback: 76% for GPT-4V against people); and how long each stage
took. Needs the machine's PostgreSQL and Redis (a private database and key prefix, removed
afterwards). Results: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from itertools import combinations
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.demo.questions import is_correct  # noqa: E402
from app.feedback.agreement import agreement, wilson  # noqa: E402
from app.feedback.job import FeedbackParams, run_feedback  # noqa: E402
from app.feedback.pairs import ai_pairs, is_longer  # noqa: E402
from app.feedback.prompts import load_prompt_file  # noqa: E402
from app.feedback.store import agreement_items, arena_prompts  # noqa: E402
from app.judges.verdicts import answer_scores  # noqa: E402
from tests.bench.conftest import private_database  # noqa: E402
from tests.bench.world import JUDGE  # noqa: E402
from tests.conftest import REDIS_URL  # noqa: E402
from tests.feedback.world import (  # noqa: E402
    MODELS,
    feedback_arena,
    prompt_file,
    truth_of_pairs,
    vote_battles,
)


def _rate(k: int, n: int) -> dict[str, Any]:
    ci = wilson(k, n)
    return {"k": k, "n": n, "rate": k / n if n else None,
            "ci": [round(ci[0], 3), round(ci[1], 3)] if ci else None}


async def run(args: argparse.Namespace, db: str, tmp: Path) -> dict[str, Any]:
    from rich.progress import Progress

    timings: dict[str, float] = {}
    async with feedback_arena(db, REDIS_URL, f"benchfb:{uuid.uuid4().hex[:6]}:",
                              tmp / "blobs", garbage=False) as arena:
        sm, queue, blobs = arena.sm, arena.queue, arena.blobs
        path, truth = prompt_file(tmp / "prompts", args.prompts, seed=41_000_000)
        prompts = load_prompt_file(path)
        params = FeedbackParams(judge=JUDGE, k=3, models=MODELS, seed=args.seed,
                                label="bench", poll_s=1.0)
        with Progress() as bars:
            tasks: dict[str, Any] = {}

            def on_progress(stage: str, p: Any) -> None:
                if stage not in tasks:
                    tasks[stage] = bars.add_task(stage, total=p.total)
                bars.update(tasks[stage], completed=p.finished, total=p.total)

            t = time.monotonic()
            first = await run_feedback(sm, queue, blobs, prompts, params,
                                       on_progress=on_progress)
            timings["imported_prompts"] = time.monotonic() - t
            answers = {(i.id, m): a for i in first.items
                       for m, a in zip(i.models, i.answers, strict=True)}
            votes = await vote_battles(sm, blobs, prompts, answers, truth, args.battles)
            async with sm() as s:
                battle_prompts = await arena_prompts(s, limit=args.battles)
            tasks.clear()
            t = time.monotonic()
            rated = await run_feedback(sm, queue, blobs, battle_prompts, params,
                                       on_progress=on_progress)
            timings["battles"] = time.monotonic() - t
        async with sm() as s:
            items, skipped = await agreement_items(s, judge=JUDGE)
    calls = [(item.ratings.rating(n + 1, "Helpfulness") >= 4)
             == is_correct(truth[item.image_sha256][1], truth[item.image_sha256][0], a)
             for item in first.items if item.ratings for n, a in enumerate(item.answers)]
    pairs = [p for item in first.items for p in ai_pairs(item)]
    right, decisive = truth_of_pairs(pairs, truth)
    longest_right = 0
    for p in pairs:  # the control on the same right-vs-wrong pairs
        scene, question = truth[p.image_sha256]
        c, r = is_correct(question, scene, p.chosen), is_correct(question, scene, p.rejected)
        if c != r:
            longest_right += is_longer(p.chosen, p.rejected) == c
    tied = right_wrong = 0  # all C(3, 2) pairs with one right answer: how many tie
    for item in first.items:
        if item.ratings is None:
            continue
        scene, question = truth[item.image_sha256]
        ok = [is_correct(question, scene, a) for a in item.answers]
        scores = answer_scores(item.ratings)
        for i, j in combinations(range(len(ok)), 2):
            if ok[i] != ok[j]:
                right_wrong += 1
                tied += scores[i] == scores[j]
    report = agreement(items)
    return {
        "prompts": args.prompts, "battles": args.battles, "k": 3, "models": list(MODELS),
        "judge": JUDGE, "votes": votes, "counts_prompts": first.counts,
        "counts_battles": rated.counts,
        "per_answer_agreement": _rate(sum(calls), len(calls)),
        "ai_pairs": len(pairs), "ai_pairs_chosen_is_longest": sum(p.chosen_is_longest
                                                                 for p in pairs),
        "pairs_right_vs_wrong": _rate(right, decisive),
        "longest_is_best_right_vs_wrong": _rate(longest_right, decisive),
        "right_vs_wrong_pairs_tied": _rate(tied, right_wrong),
        "ai_human_agreement": report.overall.as_json(),
        "ai_human_by_pair": report.as_json()["by_pair"], "left_out": skipped,
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", type=int, default=120)
    ap.add_argument("--battles", type=int, default=120)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results"
                    / "feedback.json")
    args = ap.parse_args()
    if args.battles > args.prompts:
        ap.error("--battles can not exceed --prompts (each battle is one prompt's answers)")
    with tempfile.TemporaryDirectory() as tmp, private_database() as db:
        result = asyncio.run(run(args, db, Path(tmp)))
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
