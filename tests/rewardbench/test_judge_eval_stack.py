"""`arena judge-eval` on the real stack: PostgreSQL, Redis Streams, one worker process per
judge, the CLI as a subprocess.

Known truth: the battles are the demo judge card's held-out vlrewardbench items, voted for
the answer the shapes checker prefers, so
- the trained judge's accuracy must contain, within its 99% interval, the card's own
  per-item measurement on exactly these items (greedy, fixed order: an independent
  measurement), and the judge must read the answers: high position consistency;
- the position-biased judge (models/demo/shapes-judge-biased, trained to prefer the first
  answer shown) must show its bias as low position consistency: the random order is
  really random, and it is mapped back through the human ranking;
- a judge that never answers the format (an untrained tiny LLaVA) is a clear error with
  every output counted unparsable;
- a small VL-RewardBench file lands in the benchmark's domains;
- running the same evaluation again adopts every judgment (resumable, nothing redone).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.arena.registry import load_registry, sync_registry
from app.config import REPO_ROOT
from app.db.judge_tables import Judgment
from app.rewardbench.protocol import wilson
from app.storage.blobs import LocalBlobStore
from tests.arena.stack import ArenaStack, db_query, services_stack
from tests.bench.conftest import private_database
from tests.rewardbench.world import (
    BIASED,
    JUDGE,
    add_truth_battles,
    add_voted_battle,
    card_agreement,
    data_url,
    judge_dir,
    registry_file,
    reward_row,
    truth_items,
)

N_ITEMS = 40  # the card keeps per-item results for its first 40 items
K = 2  # repetitions (the protocol itself, K = 10 by default, is tested in test_protocol)
GARBAGE = "tiny-garbage"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str, redis_prefix: str,
          tiny_models: dict[str, Path]) -> Iterator[ArenaStack]:
    tmp = tmp_path_factory.mktemp("judge-eval")
    registry = registry_file(tmp / "models.yaml", {
        JUDGE: judge_dir(JUDGE), BIASED: judge_dir(BIASED), GARBAGE: tiny_models["tiny-alpha"]})
    data = tmp / "data"
    data.mkdir()
    with private_database() as url:
        from app.db.session import make_engine, make_sessionmaker

        async def seed() -> None:
            engine = make_engine(url)
            blobs = LocalBlobStore(data / "blobs")
            async with make_sessionmaker(engine)() as s:
                await sync_registry(s, load_registry(registry))
                await add_truth_battles(s, blobs, truth_items(N_ITEMS))
                # battles that are not decisive blind single-turn preferences
                for n, (winner, kw) in enumerate([
                        ("tie", {}), ("tie (bothbad)", {}), ("model_a", {"mode": "side_by_side"}),
                        ("model_b", {"turns": 2}), ("model_a", {"answers": ("Yes.", " ")})]):
                    await add_voted_battle(s, blobs, prompt="Is there a red circle?",
                                           image=b"\x89PNG-not-used", winner=winner,
                                           minute=1000 + n, **{"answers": ("Yes.", "No."), **kw})
                await add_voted_battle(s, blobs, prompt="What colour is it?", image=None,
                                       answers=("Red.", "Blue."), winner="model_a", minute=1100)
            await engine.dispose()

        asyncio.run(seed())
        s = services_stack(url, redis_url, f"{redis_prefix}je:", registry, data,
                           ARENA_BATCH_SHARE="1.0", ARENA_SWEEP_INTERVAL_S="2",
                           ARENA_MODERATION_ENABLED="false")
        try:
            for name in (JUDGE, BIASED, GARBAGE):
                s.start_worker(f"w-{name}", name)
            wait_live(s, [JUDGE, BIASED, GARBAGE])
            yield s
        finally:
            s.stop()


def wait_live(s: ArenaStack, names: list[str], timeout: float = 180) -> None:
    from app.queue import make_queue

    async def live() -> set[str]:
        q = make_queue(s.env["ARENA_REDIS_URL"], prefix=s.env["ARENA_REDIS_PREFIX"])
        try:
            return {n for n in names if await q.live_workers(n)}
        finally:
            await q.close()

    deadline = time.monotonic() + timeout
    while (up := asyncio.run(live())) != set(names):
        for n, p in s.procs.items():
            assert p.poll() is None, f"{n} exited:\n{s.log(n)}"
        assert time.monotonic() < deadline, f"workers not live: {set(names) - up}"
        time.sleep(0.5)


def cli(s: ArenaStack, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "arena_cli", *args], cwd=REPO_ROOT,
                          env={**os.environ, **s.env}, capture_output=True, text=True,
                          timeout=timeout)


def evaluate(s: ArenaStack, out: Path, *args: str, ok: bool = True) -> dict[str, Any]:
    r = cli(s, "judge-eval", *args, "--out", str(out), "--timeout", "540")
    assert (r.returncode == 0) == ok, r.stdout + r.stderr
    print(r.stdout)  # the table (pytest -s shows it)
    return json.loads(out.read_text())


def count_judgments(s: ArenaStack, judge: str) -> int:
    return db_query(s.env["ARENA_DATABASE_URL"], lambda session: session.scalar(
        select(func.count()).select_from(Judgment).where(Judgment.judge_model == judge)))


def test_trained_judge_reproduces_its_measured_accuracy(stack: ArenaStack,
                                                        tmp_path: Path) -> None:
    result = evaluate(stack, tmp_path / "judge.json", "--judge", JUDGE, "--repetitions",
                      str(K))
    m = result["metrics"]
    assert result["sources"]["battles"] == {"items": N_ITEMS, "skipped": {
        "not decisive (tie or both bad)": 2, "not a blind battle": 1, "more than one turn": 1,
        "an answer did not finish": 1, "no image": 1}}
    assert m["items"] == N_ITEMS and m["calls"] == N_ITEMS * K
    assert list(m["domains"]) == ["general"]  # the arena's own battles
    card = card_agreement()
    independent = sum(card["first_agree"][:N_ITEMS]) / N_ITEMS
    # a 99% interval: the sampled verdicts and the random orders make this a draw
    lo, hi = wilson(m["overall"]["agree"], m["overall"]["agree"] + m["overall"]["reject"],
                    z=2.576)
    assert lo <= independent <= hi, (m["overall"], independent)
    assert lo <= card["agreement"] <= hi, (m["overall"], card["agreement"])
    assert m["parse_failure_rate"] <= 0.05
    assert m["position_consistency"] >= 0.8, m
    # the orders were drawn at random per repetition, and are recorded per call
    shown = [tuple(r["shown"]) for item in result["items"] for r in item["repetitions"]]
    assert set(shown) == {(0, 1), (1, 0)}
    assert 0.3 <= shown.count((0, 1)) / len(shown) <= 0.7
    assert m["single_sample"]["items"] == N_ITEMS

    # resumable and idempotent: the same evaluation again adopts every judgment
    before = count_judgments(stack, JUDGE)
    again = evaluate(stack, tmp_path / "again.json", "--judge", JUDGE, "--repetitions", str(K))
    assert count_judgments(stack, JUDGE) == before == N_ITEMS * K
    assert again["metrics"] == m and again["items"] == result["items"]
    # other sampling would silently reuse those rows: refused, nothing submitted
    r = cli(stack, "judge-eval", "--judge", JUDGE, "--repetitions", str(K), "--temperature",
            "0.7", "--out", str(tmp_path / "other.json"))
    assert r.returncode == 2 and "other sampling" in r.stderr, r.stderr
    assert not (tmp_path / "other.json").exists()
    assert count_judgments(stack, JUDGE) == before


def test_position_biased_judge_shows_low_consistency(stack: ArenaStack, tmp_path: Path) -> None:
    # the first 20 battles (voted in the first 20 minutes) are enough to show a bias
    m = evaluate(stack, tmp_path / "biased.json", "--judge", BIASED, "--repetitions",
                 str(K), "--until", "2026-11-01T00:20:00+00:00")["metrics"]
    assert m["items"] == 20 and m["parse_failure_rate"] <= 0.05
    assert m["position_pairs"] >= 5
    assert m["position_consistency"] <= 0.3, m
    # it picks a position and the positions were random, so it scores near chance (for a
    # fair coin over 20 items, outside 20-80% has probability 0.3%)
    assert 0.2 <= m["overall"]["accuracy"] <= 0.8, m["overall"]


def test_judge_that_never_answers_the_format(stack: ArenaStack, tmp_path: Path) -> None:
    out = tmp_path / "garbage.json"
    r = cli(stack, "judge-eval", "--judge", GARBAGE, "--repetitions", "1", "--until",
            "2026-11-01T00:05:00+00:00", "--out", str(out))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "never answered in the template's format" in r.stderr
    m = json.loads(out.read_text())["metrics"]
    assert m["items"] == 5 and m["parse_failures"] == 5 and m["overall"]["unparsable"] == 5
    assert m["overall"]["accuracy"] is None


def test_vlrewardbench_file_domains(stack: ArenaStack, tmp_path: Path) -> None:
    items = truth_items(6)
    (tmp_path / "images" / "povid").mkdir(parents=True)
    from app.demo.shapes import random_scene, render_png

    (tmp_path / "images" / "povid" / "p.png").write_bytes(
        render_png(random_scene(items[0].scene_seed)))
    rows = [
        reward_row("x-1", items[0], image_path="images/povid/p.png"),  # folder: povid
        reward_row("RLAIF-V-276", items[1], image=data_url(items[1])),
        reward_row("RLHF-V-3", items[2], image=data_url(items[2])),
        reward_row("mathverse_17", items[3], image=data_url(items[3])),
        reward_row("wildvision-battle-9", items[4], image=data_url(items[4])),
        reward_row("LRVInstruction-000000007746", items[5], image=data_url(items[5])),
        {"id": "broken", "query": "q"},  # missing fields: skipped, counted
        reward_row("RLAIF-V-9", items[0], image_path="images/rlaif-v/nowhere.png"),
    ]
    path = tmp_path / "vlrb.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = evaluate(stack, tmp_path / "file.json", "--judge", JUDGE, "--source", str(path),
                      "--repetitions", "1")
    assert result["sources"][str(path)] == {"items": 6, "skipped": {
        "missing fields": 1, "image does not exist": 1}}
    m = result["metrics"]
    assert {d: t["items"] for d, t in m["domains"].items()} == {
        "general": 2, "hallucination": 3, "reasoning": 1}
    by_id = {i["id"]: i["domain"] for i in result["items"]}
    assert by_id == {"x-1": "hallucination", "RLAIF-V-276": "hallucination",
                     "RLHF-V-3": "hallucination", "mathverse_17": "reasoning",
                     "wildvision-battle-9": "general",
                     "LRVInstruction-000000007746": "general"}
    accs = [t["accuracy"] for t in m["domains"].values() if t["accuracy"] is not None]
    assert m["macro_accuracy"] == pytest.approx(sum(accs) / len(accs))


def test_export_battles_in_the_vlrewardbench_schema(stack: ArenaStack, tmp_path: Path) -> None:
    from app.rewardbench.files import load_file

    out = tmp_path / "vlrb"
    r = cli(stack, "judge-eval", "export", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{N_ITEMS} battles" in r.stdout and "skipped 6" in r.stderr
    loaded = load_file(out / "data.jsonl")
    assert loaded.total_skipped == 0
    truth = truth_items(N_ITEMS)
    assert [(i.query, i.responses, i.preferred, i.domain) for i in loaded.items] == [
        (t.text_inputs["question"], (t.text_inputs["answer_1"], t.text_inputs["answer_2"]),
         t.truth["better"] - 1, "general") for t in truth]
    assert len(list((out / "images" / "vlm-arena").glob("*.png"))) == N_ITEMS

    import datasets

    ds = datasets.load_dataset("json", data_files=str(out / "data.jsonl"), split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == N_ITEMS and ds[0]["models"] == ["shapes-small", "shapes-large"]
    # an existing folder is refused and left as it was
    r = cli(stack, "judge-eval", "export", str(out), "--embed-images")
    assert r.returncode == 2 and "not an empty folder" in r.stderr
    assert len(list(out.iterdir())) == 2
    r = cli(stack, "judge-eval", "export", str(tmp_path / "embedded"), "--embed-images")
    assert r.returncode == 0
    assert [p.name for p in (tmp_path / "embedded").iterdir()] == ["data.jsonl"]
    assert [i.image.sha256 for i in load_file(tmp_path / "embedded" / "data.jsonl").items] \
        == [i.image.sha256 for i in loaded.items]


def test_bad_files_submit_nothing(stack: ArenaStack, tmp_path: Path) -> None:
    from app.db.judge_tables import JudgeRun

    def runs() -> int:
        return db_query(stack.env["ARENA_DATABASE_URL"], lambda session: session.scalar(
            select(func.count()).select_from(JudgeRun)))

    before = runs()
    bad_rows = tmp_path / "bad.jsonl"
    bad_rows.write_text(json.dumps({"id": "a", "query": "q"}) + "\n" + json.dumps(
        reward_row("b", truth_items(1)[0], image_path="images/none.png")) + "\n")
    r = cli(stack, "judge-eval", "--judge", JUDGE, "--source", str(bad_rows))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "skipped 2 (1 missing fields, 1 image does not exist)" in r.stderr
    assert "row 1: missing fields: response, human_ranking, image or image_path" in r.stderr
    assert "nothing to evaluate" in r.stderr
    malformed = tmp_path / "malformed.jsonl"
    malformed.write_text('{"id": "a"}\n{"id": \n')
    r = cli(stack, "judge-eval", "--judge", JUDGE, "--source", str(malformed))
    assert r.returncode == 2 and "line 2 is not JSON" in r.stderr, r.stderr
    r = cli(stack, "judge-eval", "--judge", "no-such-judge", "--source", "battles")
    assert r.returncode == 2 and "unknown model 'no-such-judge'" in r.stderr, r.stderr
    assert runs() == before
