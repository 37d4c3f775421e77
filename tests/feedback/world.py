"""Pieces of the VLFeedback stack test and benchmark: the demo models and judge on workers
(PostgreSQL, Redis Streams), shapes-scene prompt files, voted battles, and the truth.

The judge is the trained shapes-judge; the "garbage judge" is a real demo answer model
(shapes-lite) registered as a judge: it never answers in the ratings format.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.config import REPO_ROOT
from app.db.judge_tables import Judgment
from app.db.models import Battle, Generation, ImageBlob, Turn, Visitor, Vote
from app.db.session import make_engine, make_sessionmaker
from app.demo.questions import is_correct, make_question
from app.demo.shapes import Scene, random_scene, render_png
from app.feedback.pairs import PairRecord
from app.judges import ASPECTS, Ratings, parse_ratings
from app.queue.redis_queue import RedisQueue
from app.storage.blobs import LocalBlobStore
from tests.bench.world import JUDGE, JUDGE_DIR, JUDGE_OPTIONS, Arena
from tests.conftest import require_file

MODELS = ("shapes-lite", "shapes-medium", "shapes-xl")
GARBAGE = "garbage-judge"
DEMO_DIR = REPO_ROOT / "models" / "demo"


@contextlib.asynccontextmanager
async def feedback_arena(db_url: str, redis_url: str, prefix: str, blobs_dir: Path, *,
                         garbage: bool = True) -> AsyncIterator[Arena]:
    """Workers for MODELS, the judge and (``garbage``) the garbage judge, on one database
    and one Redis key prefix."""
    for name in MODELS:
        require_file(DEMO_DIR / name / "model.safetensors", f"the demo model {name}",
                     "train it: .venv/bin/python scripts/train_demo_models.py")
    require_file(JUDGE_DIR / "model.safetensors", "the demo judge",
                 "train it: .venv/bin/python scripts/train_demo_judge.py")
    engine = make_engine(db_url)
    # a long lease: five models share this process and two busy cores, and a job
    # reclaimed from a stalled worker would be generated twice
    queue = RedisQueue(redis_url, prefix=prefix, lease_ms=120_000)
    arena = Arena(make_sessionmaker(engine), LocalBlobStore(blobs_dir), queue)
    try:
        for name in MODELS:
            await arena.register(name, "transformers", str(DEMO_DIR / name),
                                 {"num_threads": 1})
        await arena.register(JUDGE, "transformers", str(JUDGE_DIR), JUDGE_OPTIONS,
                             role="judge")
        names = [*MODELS, JUDGE]
        if garbage:
            await arena.register(GARBAGE, "transformers", str(DEMO_DIR / "shapes-lite"),
                                 {"num_threads": 1, "judge_form": "short"}, role="judge")
            names.append(GARBAGE)
        for name in names:
            await arena.start(name)
        yield arena
    finally:
        await arena.stop()
        await queue.close()
        await engine.dispose()


def prompt_file(folder: Path, n: int, seed: int = 31_000_000
                ) -> tuple[Path, dict[str, tuple[Scene, str]]]:
    """A JSONL prompt file of shapes scenes (images beside it); image sha256 -> truth."""
    folder.mkdir(parents=True, exist_ok=True)
    truth = {}
    lines = []
    for i in range(n):
        scene = random_scene(seed + i)
        question = make_question(scene, random.Random(i)).text
        data = render_png(scene)
        (folder / f"scene-{i}.png").write_bytes(data)
        truth[hashlib.sha256(data).hexdigest()] = (scene, question)
        lines.append(json.dumps({"id": f"scene-{i}", "prompt": question,
                                 "image": f"scene-{i}.png"}))
    path = folder / "prompts.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path, truth


async def count(sm: async_sessionmaker, *where: Any) -> int:
    async with sm() as s:
        return int(await s.scalar(select(func.count()).select_from(Judgment).where(*where)))


async def attempts(sm: async_sessionmaker) -> dict[uuid.UUID, int]:
    async with sm() as s:
        return dict((await s.execute(select(Judgment.id, Judgment.attempts))).all())


def card_pair_rate(p: float) -> float:
    """The pair agreement the card's per-answer agreement p implies: a right-vs-wrong pair
    is kept when the judge's two calls differ; it is right when both calls are right (p^2)
    and wrong when both are wrong ((1-p)^2)."""
    return p * p / (p * p + (1 - p) ** 2)


def truth_of_pairs(pairs: list[PairRecord], truth: dict[str, tuple[Scene, str]]
                   ) -> tuple[int, int]:
    """(right, decisive): pairs where exactly one answer is correct, and how many of those
    chose the correct one."""
    right = decisive = 0
    for p in pairs:
        scene, question = truth[p.image_sha256]
        c, r = is_correct(question, scene, p.chosen), is_correct(question, scene, p.rejected)
        if c != r:
            decisive += 1
            right += c
    return right, decisive


async def add_voted_battle(sm: async_sessionmaker, blobs: LocalBlobStore, data: bytes,
                           question: str, a: tuple[str, str], b: tuple[str, str], vote: str,
                           minute: int) -> uuid.UUID:
    sha = await blobs.put(data)
    at = datetime.now(UTC) - timedelta(hours=2) + timedelta(minutes=minute)
    async with sm() as s:
        if await s.get(ImageBlob, sha) is None:
            s.add(ImageBlob(sha256=sha, phash="0" * 16, width=224, height=224,
                            bytes=len(data), mime="image/png"))
        visitor = Visitor(ip_hash=hashlib.sha256(f"v{minute}".encode()).hexdigest())
        s.add(visitor)
        await s.flush()
        battle = Battle(visitor_id=visitor.id, mode="anonymous", model_a=a[0], model_b=b[0],
                        image_sha256=sha, ip_hash=visitor.ip_hash, language="en",
                        created_at=at)
        turn = Turn(battle=battle, index=0, prompt=question, created_at=at)
        for side, (model, text) in (("a", a), ("b", b)):
            Generation(turn=turn, side=side, model=model, status="done", text=text,
                       completion_tokens=len(text.split()), finished_at=at)
        s.add(battle)
        await s.flush()
        s.add(Vote(battle_id=battle.id, visitor_id=visitor.id, winner=vote, anonymous=True,
                   ip_hash=visitor.ip_hash, created_at=at + timedelta(seconds=30)))
        await s.commit()
        return battle.id


async def hand_count(sm: async_sessionmaker, run_id: uuid.UUID) -> dict[str, Any]:
    """Agreement counted from the raw judge outputs and the votes table, without the
    feedback package: parse each output afresh, sum each side's three ratings."""
    async with sm() as s:
        rows = (await s.execute(text(
            "select j.raw_output, f.battle_id, f.models, j.inputs from feedback_items f "
            "join judgments j on j.id = f.judgment_id where f.run_id = :run"),
            {"run": run_id})).all()
        votes = {str(b.id): (b.model_a, b.model_b, v.winner) for b, v in (await s.execute(
            select(Battle, Vote).join(Vote, Vote.battle_id == Battle.id))).all()}
    n = agree = ties = 0
    per_pair: dict[tuple[str, str], list[int]] = {}
    for raw, battle_id, models, inputs in rows:
        model_a, model_b, winner = votes[str(battle_id)]
        if winner not in ("model_a", "model_b"):
            continue
        parsed = parse_ratings(raw or "", len(inputs["answers"]))
        if not isinstance(parsed, Ratings):
            continue
        models = list(json.loads(models) if isinstance(models, str) else models)
        inputs = json.loads(inputs) if isinstance(inputs, str) else inputs
        total = [sum(parsed.rating(models.index(m) + 1, a) for a in ASPECTS)
                 for m in (model_a, model_b)]
        pair = per_pair.setdefault(tuple(sorted((model_a, model_b))), [0, 0, 0])
        if total[0] == total[1]:  # a pair whose battles all tie is still reported (n = 0)
            ties += 1
            pair[2] += 1
            continue
        ok = (total[0] > total[1]) == (winner == "model_a")
        n, agree = n + 1, agree + ok
        pair[0] += 1
        pair[1] += ok
    return {"n": n, "agree": agree, "ai_ties": ties, "per_pair": per_pair}




async def vote_battles(sm: async_sessionmaker, blobs: LocalBlobStore, prompts: list[Any],
                       answers: dict[tuple[str, str], str],
                       truth: dict[str, tuple[Scene, str]], n: int, seed: int = 11
                       ) -> dict[str, int]:
    """``n`` battles between two of each prompt's answers (the weakest model against
    another: more right-vs-wrong battles), voted by a simulated person who knows the
    truth; the votes by kind."""
    from app.demo.voter import SimulatedVoter

    voter = SimulatedVoter(noise=0.1, seed=seed)
    votes: dict[str, int] = {}
    for k, p in enumerate(prompts[:n]):
        a, b = random.Random(k).sample([MODELS[0], MODELS[1 + k % 2]], 2)
        scene, question = truth[p.image_sha256]
        vote = voter.vote(question, scene, answers[(p.id, a)], answers[(p.id, b)])
        votes[vote] = votes.get(vote, 0) + 1
        await add_voted_battle(sm, blobs, p.image_data, question, (a, answers[(p.id, a)]),
                               (b, answers[(p.id, b)]), vote, k)
    return votes
