"""Demo-world preference items for the judge-eval tests: voted battles whose truth the
shapes checker knows, VL-RewardBench files, the judges' registry.

The battles are the held-out `vlrewardbench-pairwise` items of the demo judge's card
(app.demo.judge_data.held_out_items): question, two answers (side A shows answer 1), the
scene's picture, and a vote for the answer the checker prefers. The card measured the
judge on exactly these items (its eval.json keeps the per-item agreement of the first
ones), which is the independent measurement judge-eval must reproduce.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import REPO_ROOT
from app.db.models import Battle, Generation, Turn, Vote
from app.demo.judge_data import REWARD, JudgeItem, held_out_items
from app.demo.shapes import random_scene, render_png
from app.storage.blobs import LocalBlobStore
from tests.bench.helpers import add_battle
from tests.conftest import require_file

DEMO = REPO_ROOT / "models" / "demo"
JUDGE, BIASED, WEAK = "shapes-judge", "shapes-judge-biased", "shapes-judge-weak"
ANSWER_MODELS = ("shapes-small", "shapes-large")


def judge_dir(name: str) -> Path:
    return require_file(DEMO / name / "config.json", f"the demo judge {name}",
                        "train it: scripts/train_demo_judge.py (see its docstring)").parent


def card_agreement(name: str = JUDGE) -> dict[str, Any]:
    """The judge's card entry for vlrewardbench-pairwise (its eval.json)."""
    return json.loads((judge_dir(name) / "eval.json").read_text())["templates"][REWARD]


def registry_file(path: Path, judges: dict[str, Path]) -> Path:
    """A registry of the judges (role judge, short forms) and the battles' answer models
    (rows only: no worker serves them here)."""
    models: list[dict[str, Any]] = [
        {"name": name, "backend": "transformers", "path": str(d), "role": "judge",
         "weight": 0, "ranked": False, "max_new_tokens": 256, "concurrency": 8,
         "sampling": {"temperature": 0.0}, "options": {"num_threads": 1, "judge_form": "short"}}
        for name, d in judges.items()]
    models += [{"name": m, "backend": "transformers", "path": str(DEMO / m)}
               for m in ANSWER_MODELS]
    path.write_text(yaml.safe_dump({"models": models}))
    return path


def truth_items(n: int) -> list[JudgeItem]:
    return held_out_items(REWARD, n)


async def add_voted_battle(session: AsyncSession, blobs: LocalBlobStore, *, prompt: str,
                           image: bytes | None, answers: tuple[str, str], winner: str,
                           minute: int = 0, mode: str = "anonymous", turns: int = 1) -> None:
    """A finished battle between the two answer models (every turn answered with
    `answers`), voted `winner` 30 s after it started."""
    battle_id = await add_battle(session, blobs, prompt=prompt, image=image, turns=turns,
                                 minute=minute, model=ANSWER_MODELS[0])
    battle = await session.get(Battle, battle_id)
    assert battle is not None
    battle.mode, battle.model_b = mode, ANSWER_MODELS[1]
    for turn in (await session.scalars(select(Turn).where(Turn.battle_id == battle_id))).all():
        session.add_all(Generation(turn_id=turn.id, side=side, model=model, text=text,
                                   status="done")
                        for side, model, text in zip("ab", ANSWER_MODELS, answers, strict=True))
    session.add(Vote(battle_id=battle_id, visitor_id=battle.visitor_id, winner=winner,
                     anonymous=mode == "anonymous", ip_hash=battle.ip_hash,
                     created_at=battle.created_at + timedelta(seconds=30)))
    await session.commit()


async def add_truth_battles(session: AsyncSession, blobs: LocalBlobStore,
                            items: list[JudgeItem]) -> None:
    """One blind battle per item, voted for the answer the checker prefers."""
    for n, item in enumerate(items):
        x = item.text_inputs
        await add_voted_battle(
            session, blobs, prompt=x["question"], image=render_png(random_scene(item.scene_seed)),
            answers=(x["answer_1"], x["answer_2"]),
            winner="model_a" if item.truth["better"] == 1 else "model_b", minute=n)


def reward_row(item_id: str, item: JudgeItem, *, image: str | None = None,
               image_path: str | None = None) -> dict[str, Any]:
    """A VL-RewardBench row for a demo item (the preferred answer ranked 0)."""
    x = item.text_inputs
    row: dict[str, Any] = {
        "id": item_id, "query": x["question"], "response": [x["answer_1"], x["answer_2"]],
        "human_ranking": [0, 1] if item.truth["better"] == 1 else [1, 0],
        "models": list(ANSWER_MODELS), "meta": {"kind": item.kind}, "ground_truth": None}
    if image is not None:
        row["image"] = image
    if image_path is not None:
        row["image_path"] = image_path
    return row


def data_url(item: JudgeItem) -> str:
    return "data:image/png;base64," + base64.b64encode(
        render_png(random_scene(item.scene_seed))).decode()
