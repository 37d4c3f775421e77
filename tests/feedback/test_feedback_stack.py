"""VLFeedback on the real stack: PostgreSQL, Redis Streams, workers serving the real demo
models (models/demo) and the trained demo judge shapes-judge.

1. An imported prompt file of shapes scenes: three demo models of distinct measured
   accuracy answer through the workers, the judge rates the three answers of each prompt in
   one call. The ratings parse; the judge's per-answer calls agree with the shapes checker
   as its card says; the AI pairs choose the right answer over a wrong one at the rate the
   card's per-answer agreement implies. Running the job again adopts everything.
2. Arena battles between two of those answers, voted by simulated people who know the
   truth: rated with a third answer, AI-human agreement equals the value counted here by
   hand from the raw judge outputs and the votes. The export holds both sources and loads.
3. A real model that is not a judge (the demo answer model shapes-lite) as the judge:
   every rating is unparsable and counted, never guessed; nothing can be exported.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.db.judge_tables import JudgeRun, Judgment
from app.demo.questions import is_correct
from app.feedback.agreement import agreement, wilson
from app.feedback.exports import export_run
from app.feedback.folders import ExportError
from app.feedback.job import FeedbackParams, run_feedback
from app.feedback.pairs import ai_pairs
from app.feedback.prompts import load_prompt_file
from app.feedback.store import agreement_items, arena_prompts
from app.judges.runs import RunError
from app.queue.redis_queue import RedisQueue
from tests.bench.conftest import private_database
from tests.bench.world import JUDGE, Arena, judge_card
from tests.feedback.world import (
    GARBAGE,
    MODELS,
    attempts,
    card_pair_rate,
    count,
    feedback_arena,
    hand_count,
    prompt_file,
    truth_of_pairs,
    vote_battles,
)

pytestmark = pytest.mark.timeout(1200)

N_PROMPTS = 24
N_BATTLES = 18


@pytest.fixture
def fb_db() -> Iterator[str]:
    with private_database() as url:
        yield url


@pytest.fixture
async def stack(tmp_path: Path, redis_url: str, redis_prefix: str, fb_db: str
                ) -> AsyncIterator[tuple[Arena, str]]:
    async with feedback_arena(fb_db, redis_url, f"{redis_prefix}fb-{uuid.uuid4().hex[:6]}:",
                              tmp_path / "blobs") as arena:
        yield arena, fb_db


async def test_vlfeedback_on_the_real_stack(stack: tuple[Arena, str], tmp_path: Path,
                                            redis_url: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    arena, db_url = stack
    sm, queue, blobs = arena.sm, arena.queue, arena.blobs
    card = judge_card()["templates"]["vlfeedback-ratings@1"]
    path, truth = prompt_file(tmp_path / "prompts", N_PROMPTS)
    prompts = load_prompt_file(path)
    params = FeedbackParams(judge=JUDGE, k=3, models=MODELS, seed=3, label="stack",
                            timeout_s=600, poll_s=0.2)

    # refused before any write: a pool too small for k, a model that is not in it
    for bad, why in ((FeedbackParams(judge=JUDGE, k=4, models=MODELS), "the pool has 3"),
                     (FeedbackParams(judge=JUDGE, k=3, models=(*MODELS[:2], JUDGE)),
                      "may not answer"),
                     (FeedbackParams(judge="nobody", k=3, models=MODELS), "unknown model")):
        with pytest.raises(RunError, match=why):
            await run_feedback(sm, queue, blobs, prompts, bad)
    async with sm() as s:
        assert await s.scalar(select(func.count()).select_from(JudgeRun)) == 0

    # 1. imported prompts
    first = await run_feedback(sm, queue, blobs, prompts, params)
    c = first.counts
    assert c["prompts"] == N_PROMPTS and c["answers_missing"] == 0 and c["failed"] == 0
    assert c["rated"] + c["unparsable"] == N_PROMPTS
    # the card: parse rate 1.0 on held-out items; greedy decoding, so allow one slip
    assert c["rated"] >= N_PROMPTS - 1, [i.failure for i in first.items if i.failure]
    assert all(len(i.models) == 3 and set(i.models) == set(MODELS) for i in first.items)
    assert len({i.models for i in first.items}) > 1  # the order is shuffled per prompt

    # per answer: the judge's helpfulness call (>= 4) against the checker, as on the card
    calls = [(item.ratings.rating(n + 1, "Helpfulness") >= 4)
             == is_correct(truth[item.image_sha256][1], truth[item.image_sha256][0], answer)
             for item in first.items if item.ratings for n, answer in enumerate(item.answers)]
    per_answer = sum(calls) / len(calls)
    lo, hi = wilson(sum(calls), len(calls))  # type: ignore[misc]
    assert lo <= card["answer_agreement"] <= hi or per_answer > card["answer_agreement"], (
        per_answer, card["answer_agreement"])

    # AI pairs against the truth, at the rate the card's per-answer agreement implies
    pairs = [p for item in first.items for p in ai_pairs(item)]
    right, decisive = truth_of_pairs(pairs, truth)
    lo, hi = wilson(right, decisive)  # type: ignore[misc]
    expected = card_pair_rate(card["answer_agreement"])
    print(f"\nper answer {sum(calls)}/{len(calls)} = {per_answer:.3f} (card "
          f"{card['answer_agreement']}); pairs {right}/{decisive} [{lo:.3f}, {hi:.3f}] "
          f"(card implies {card_pair_rate(card['answer_agreement']):.3f}); {len(pairs)} pairs")
    assert decisive >= 10 and lo > 0.5, (right, decisive)
    assert lo <= expected <= hi or right / decisive > expected, (right, decisive, expected)

    # running it again adopts every row and redoes nothing
    before = await attempts(sm)
    again = await run_feedback(sm, queue, blobs, prompts, params)
    assert await attempts(sm) == before
    assert [(i.id, i.models, i.ratings) for i in again.items] == [
        (i.id, i.models, i.ratings) for i in first.items]

    # 2. battles between two of those answers, voted by people who know the truth
    answers = {(i.id, m): t for i in first.items
               for m, t in zip(i.models, i.answers, strict=True)}
    by_id = {p.id: p for p in prompts}
    votes = await vote_battles(sm, blobs, [by_id[f"scene-{n}"] for n in range(N_BATTLES)],
                               answers, truth, N_BATTLES)
    async with sm() as s:
        battle_prompts = await arena_prompts(s, limit=N_BATTLES)
    assert len(battle_prompts) == N_BATTLES
    answered = await count(sm, Judgment.task == "answer")
    rated = await run_feedback(sm, queue, blobs, battle_prompts, params)
    assert await count(sm, Judgment.task == "answer") == answered  # the third answer exists
    assert rated.counts["rated"] >= N_BATTLES - 1

    async with sm() as s:
        items, skipped = await agreement_items(s, judge=JUDGE)
    report = agreement(items)
    hand = await hand_count(sm, rated.ratings_run_id)
    o = report.overall
    assert (o.n, o.agree, o.ai_ties) == (hand["n"], hand["agree"], hand["ai_ties"])
    print(f"agreement {o}; votes {votes}")
    # every decisive vote's battle was rated (one unparsable rating allowed, as above); how
    # many of them the judge rates as a tie varied between runs (6 and 10 of 13 seen), so
    # only the hand count's equality is exact
    decisive_votes = votes.get("model_a", 0) + votes.get("model_b", 0)
    assert o.n + o.ai_ties >= decisive_votes - 1 and o.n >= 1, (o, votes)
    # per pair, ties included: a pair whose every battle the judge tied is reported with n = 0
    assert {(j, a, b): (r.n, r.agree, r.ai_ties) for (j, a, b), r in report.by_pair.items()} == {
        (JUDGE, a, b): tuple(v) for (a, b), v in hand["per_pair"].items()}
    assert skipped.get("tie", 0) + skipped.get("both-bad", 0) == votes.get("tie", 0) + votes.get(
        "tie (bothbad)", 0)

    # the export: both sources, loaded back
    import datasets

    out = tmp_path / "export"
    result = await export_run(sm, blobs, rated.ratings_run_id, out)
    dpo = datasets.load_dataset(str(out / "dpo"), split="train")
    vlf = datasets.load_dataset(str(out / "vlfeedback"), split="train")
    ai = [p for i in rated.items for p in ai_pairs(i)]
    assert len(dpo) == len(ai) + decisive_votes
    assert sorted(dpo["source"]) == sorted(["ai"] * len(ai) + ["human"] * decisive_votes)
    assert len(vlf) == rated.counts["rated"]
    assert json.loads((out / "agreement.json").read_text())["overall"] == o.as_json()
    assert result.agreement["overall"] == o.as_json()

    # 3. a model that is not a judge: every rating unparsable, counted, nothing exported
    garbage = await run_feedback(sm, queue, blobs, prompts[:4],
                                 FeedbackParams(judge=GARBAGE, k=3, models=MODELS, seed=3,
                                                label="garbage", timeout_s=300, poll_s=0.2))
    assert garbage.counts["rated"] == 0
    assert garbage.counts["unparsable"] + garbage.counts["failed"] == 4
    assert all(i.ratings is None and i.failure for i in garbage.items)
    with pytest.raises(ExportError, match="none parsed"):
        await export_run(sm, blobs, garbage.ratings_run_id, tmp_path / "garbage")
    assert not (tmp_path / "garbage").exists()

    # 4. the commands, against the same database, queue and blob store (the workers keep
    # serving in this process): `run` resumes the finished run, the others read it
    from typer.testing import CliRunner

    from app.config import get_settings
    from arena_cli.main import cli

    assert isinstance(queue, RedisQueue)
    for key, value in (("ARENA_DATABASE_URL", db_url), ("ARENA_REDIS_URL", redis_url),
                       ("ARENA_REDIS_PREFIX", queue.prefix), ("ARENA_BLOB_DIR",
                                                                str(tmp_path / "blobs")),
                       ("ARENA_DATA_DIR", str(tmp_path / "data")), ("COLUMNS", "200")):
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    runner = CliRunner()

    async def arena_cmd(*args: str, code: int = 0) -> str:
        result = await asyncio.to_thread(runner.invoke, cli, ["feedback", *args])
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.output

    try:
        before = await attempts(sm)
        out = await arena_cmd("run", "--judge", JUDGE, "--prompts", str(path), "--k", "3",
                              "--models", ",".join(MODELS), "--seed", "3", "--label", "stack")
        assert await attempts(sm) == before  # resumed: nothing new
        assert f"{N_PROMPTS}" in out and "ratings run:" in out
        rid = out.rsplit("ratings run:", 1)[1].split()[0]
        out = await arena_cmd("pairs", "--run", rid, "--no-human")
        assert f"{len(pairs)}" in out and "chosen is longest" in out
        out = await arena_cmd("agreement", "--judge", JUDGE)
        assert f"{100 * o.rate:.1f}%" in out
        out = await arena_cmd("export", "--run", rid, "--out", str(tmp_path / "cli-export"))
        assert f"{len(pairs)} ai" in out
        assert datasets.load_dataset(str(tmp_path / "cli-export" / "dpo"), split="train")
        assert "nothing exported" in await arena_cmd(
            "export", "--run", rid, "--out", str(tmp_path / "cli-export"), code=2)
        assert "not a run id" in await arena_cmd("pairs", "--run", "nope", code=2)
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"id": "a", "prompt": "Q?", "image": "missing.png"}\n')
        assert "does not exist" in await arena_cmd("run", "--judge", JUDGE, "--prompts",
                                                   str(bad), code=2)
    finally:
        get_settings.cache_clear()
