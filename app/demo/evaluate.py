"""Score a vision-language model on held-out shapes-world questions.

Shared by the training script (model cards) and the tests (the shipped models keep their
measured order). Scene seeds for training and for evaluation never overlap.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.demo.questions import (
    QUESTION_KINDS,
    Question,
    is_correct,
    make_question,
    reference_answer,
)
from app.demo.shapes import random_scene, render

TRAIN_SEEDS = range(0, 1_000_000)
HELD_OUT_SEEDS = range(10_000_000, 11_000_000)  # never used for training


@dataclass(frozen=True)
class Example:
    scene_seed: int
    question: Question
    answer: str  # the reference answer


def examples(seeds: range, count: int, seed: int) -> list[Example]:
    """`count` (scene, question, reference answer) examples, drawn reproducibly from `seeds`."""
    rng = random.Random(seed)
    out = []
    for scene_seed in rng.sample(seeds, count):
        scene = random_scene(scene_seed)
        question = make_question(scene, rng)
        out.append(Example(scene_seed, question, reference_answer(question, scene)))
    return out


def conversation(question: str, answer: str | None = None) -> list[dict[str, Any]]:
    """Chat-template messages: the image and the question, then optionally the answer."""
    turns: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}
    ]
    if answer is not None:
        turns.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return turns


def generate_answers(model: Any, processor: Any, items: list[Example], batch_size: int = 50,
                     samples: int = 1, **sampling: Any) -> list[list[str]]:
    """`samples` answers per item (greedy unless `sampling` says e.g. do_sample=True), batched.

    Why: the held-out evaluation and the DPO demo's answer sampling prompt a model exactly
    the same way (its chat template, the image after the question, left padding).
    """
    import torch

    tokenizer = processor.tokenizer
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    answers: list[list[str]] = []
    try:
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            prompts = [
                processor.apply_chat_template(
                    conversation(e.question.text), add_generation_prompt=True
                )
                for e in chunk
            ]
            images = [render(random_scene(e.scene_seed)) for e in chunk]
            batch = processor(
                images=images, text=prompts, padding=True, return_tensors="pt",
                add_special_tokens=False,
            )  # fmt: skip
            kwargs = {"do_sample": False, **sampling}
            with torch.inference_mode():
                out = model.generate(
                    **batch, max_new_tokens=64, num_return_sequences=samples, **kwargs
                )
            width = batch["input_ids"].shape[1]
            texts = [tokenizer.decode(row[width:], skip_special_tokens=True) for row in out]
            answers += [texts[k : k + samples] for k in range(0, len(texts), samples)]
    finally:
        tokenizer.padding_side = side
    return answers


def evaluate(model: Any, processor: Any, items: list[Example], batch_size: int = 50) -> dict:
    """Greedy answers (batched) to `items`, judged by `is_correct`."""
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = []
    answers = generate_answers(model, processor, items, batch_size)
    for example, (answer,) in zip(items, answers, strict=True):
        ok = is_correct(example.question, random_scene(example.scene_seed), answer)
        right[example.question.kind] += ok
        total[example.question.kind] += 1
        if len(samples) < 8:
            samples.append({"question": example.question.text, "answer": answer, "correct": ok})
    return {
        "accuracy": sum(right.values()) / sum(total.values()),
        "questions": sum(total.values()),
        "by_kind": {k: round(right[k] / total[k], 3) for k in QUESTION_KINDS if total[k]},
        "samples": samples,
    }


def evaluate_dir(model_dir: Path, count: int = 100, seed: int = 3) -> dict:
    """Load a saved model and score it on `count` held-out questions."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir).eval()
    return evaluate(model, processor, examples(HELD_OUT_SEEDS, count, seed))
