"""Pieces for bench runs in one process: demo-world battles, the demo judge, a
position-biased judge, and the workers.

- The judge is the trained `shapes-judge` (models/demo/shapes-judge: a tiny LLaVA whose
  agreement with the shapes checker is measured in its card), served by a transformers
  worker like any judge of the registry. The checker is used only to check its verdicts.
- The position-biased judge is a real model: a tiny LLaVA fine-tuned for a few seconds to
  answer every judge prompt with "[[A>B]]", whatever the answers say.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.config import REPO_ROOT
from app.db.models import ModelEntry
from app.demo.questions import is_correct, make_question, parse_question
from app.demo.shapes import Scene, random_scene, render_png
from app.queue.memory_queue import MemoryQueue
from app.storage.blobs import LocalBlobStore
from tests.bench.helpers import add_battle, ensure_model
from tests.conftest import require_file

DEMO = {name: REPO_ROOT / "models" / "demo" / name
        for name in ("shapes-small", "shapes-medium", "shapes-large")}
JUDGE = "shapes-judge"
JUDGE_DIR = REPO_ROOT / "models" / "demo" / JUDGE
JUDGE_OPTIONS = {"num_threads": 1, "judge_form": "short"}


def judge_card() -> dict[str, Any]:
    """The demo judge's measured agreement per template (its eval.json)."""
    require_file(JUDGE_DIR / "eval.json", "the demo judge",
                 "train it: .venv/bin/python scripts/train_demo_judge.py")
    return json.loads((JUDGE_DIR / "eval.json").read_text())


async def demo_battles(sm: async_sessionmaker, blobs: LocalBlobStore, n: int,
                       seed: int = 0) -> dict[str, Scene]:
    """``n`` single-turn battles about demo scenes; returns image sha256 -> scene."""
    scenes: dict[str, Scene] = {}
    async with sm() as s:
        await ensure_model(s)
        for i in range(n):
            scene = random_scene(20_000_000 + seed * 10_000 + i)
            question = make_question(scene, random.Random(seed * 10_000 + i))
            data = render_png(scene)
            scenes[hashlib.sha256(data).hexdigest()] = scene
            await add_battle(s, blobs, prompt=question.text, image=data, minute=i)
    return scenes


def checker_side(scene: Scene, question: str, a: str, b: str) -> str:
    """The truth a bench verdict is checked against: the side the shapes checker prefers
    ("A", "B" or "tie"). Assertions only: no judge is made from it."""
    if parse_question(question) is None:
        return "tie"
    ra, rb = is_correct(question, scene, a), is_correct(question, scene, b)
    return "tie" if ra == rb else ("A" if ra else "B")


def train_position_biased_judge(out: Path, steps: int = 60, seed: int = 5) -> Path:
    """A tiny LLaVA that answers any bench judge prompt with "[[A>B]]" (trained, not
    mocked: it reads the prompt and the image like any judge, and has learnt one bias)."""
    import torch

    from app.demo.shapes import render
    from app.judges import get_template
    from app.judges import render as render_prompt
    from app.tinyvlm.build import DEFAULT_TEXTS, new_tiny_llava, save_llava

    model, processor = new_tiny_llava(
        seed=seed, vocab_texts=[*DEFAULT_TEXTS, "Q: A: B: Verdict: [[A>B]] [[A=B]] [[B>A]]"])
    tok = processor.tokenizer
    template = get_template("bench-pairwise", 1)
    rng = random.Random(seed)
    answers = ["Yes.", "No.", "There are two shapes.", "The shape on the left is red.",
               "A large blue star at the top.", "The largest shape is the green circle."]
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        texts, images, prompt_lens = [], [], []
        for _ in range(8):
            scene = random_scene(rng.randrange(10**6))
            q = make_question(scene, rng).text
            prompt = render_prompt(template, {"image": b"x", "question": q,
                                              "answer_a": rng.choice(answers),
                                              "answer_b": rng.choice(answers)}, form="short")
            user = [{"role": "user", "content": [{"type": "image"}, {"type": "text",
                                                  "text": prompt.messages[-1].content}]}]
            head = processor.apply_chat_template(user, add_generation_prompt=True)
            full = processor.apply_chat_template(
                [*user, {"role": "assistant", "content": [{"type": "text",
                                                          "text": "[[A>B]]"}]}])
            texts.append(full)
            prompt_lens.append(len(tok(head, add_special_tokens=False)["input_ids"]))
            images.append(render(scene))
        batch = processor(images=images, text=texts, padding=True, return_tensors="pt",
                          add_special_tokens=False)
        labels = batch["input_ids"].clone()
        # the prompt part of each row (image tokens expanded) is not learnt: only the reply
        image_extra = int((batch["input_ids"][0] == model.config.image_token_id).sum()) - 1
        for i, n in enumerate(prompt_lens):
            labels[i, : n + image_extra] = -100
        labels[batch["attention_mask"] == 0] = -100
        loss = model(**batch, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return save_llava(model, processor, out)


@dataclass
class Arena:
    """Registry rows and in-process workers for a set of models, on one database."""

    sm: async_sessionmaker
    blobs: LocalBlobStore
    queue: MemoryQueue = field(default_factory=MemoryQueue)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def register(self, name: str, backend: str, path: str | None,
                       options: dict[str, Any], role: str = "answer") -> None:
        async with self.sm() as s:
            row = await s.get(ModelEntry, name)
            if row is None:
                row = ModelEntry(name=name, backend=backend, path=path)
                s.add(row)
            row.backend, row.path, row.options, row.role = backend, path, options, role
            row.max_new_tokens, row.sampling = 48, {"temperature": 0.0}
            await s.commit()

    async def start(self, name: str) -> None:
        from workers.engines.base import EngineConfig
        from workers.engines.factory import make_engine
        from workers.worker import Worker

        async with self.sm() as s:
            entry = await s.get(ModelEntry, name)
        assert entry is not None
        engine = make_engine(EngineConfig(name=name, backend=entry.backend, path=entry.path,
                                          options=entry.options))
        worker = Worker(model=name, engine=engine, queue=self.queue, sessionmaker=self.sm,
                        blobs=self.blobs, concurrency=4, batch_share=1.0,
                        sweep_interval_s=60)
        self._tasks.append(asyncio.create_task(worker.run(self._stop)))
        deadline = time.monotonic() + 120
        while not await self.queue.live_workers(name):
            assert time.monotonic() < deadline, f"worker {name} did not start"
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        self._stop.set()
        for t in self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(t, 60)
