"""What a demo student really says when it refines: its own answers in FIRE-style dialogues.

Why: a teacher trained only on well-formed answers scores the untrained base's refinements
("The shape is the left is a triangle at the top.") as right, which inflates FIRE's
teacher-scored metrics (README, FIRE). The FIRE demo's teacher is therefore also trained
on the students' own answers, graded by the shapes checker. The dialogues run as the FIRE
runner runs them (fire-student@1, short form, greedy), on training scenes only, with the
feedback the demo teacher gives or the uninformative "Try again.".
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.demo.judge_data import JudgeItem, teacher_item
from app.demo.questions import Question, is_correct, make_question
from app.demo.shapes import random_scene, render
from app.demo.student_data import teacher_feedback
from app.judges.templates import load_template
from app.judges.templates import render as render_prompt

STUDENT_TEMPLATE = "fire-student@1"
TRY_AGAIN = "Try again."  # what `arena fire run --feedback uninformative` tells the student


@dataclass(frozen=True)
class StudentAnswer:
    """One answer of a student in a dialogue (turn 0: its first answer)."""

    scene_seed: int
    question: Question
    turn: int
    answer: str


def student_messages(question: Question, history: Sequence[str]) -> list[dict[str, Any]]:
    """The chat-template messages the worker builds for a fire-student call."""
    inputs = {"image": b"scene", "question": question.text, "history": list(history) or None}
    prompt = render_prompt(load_template(STUDENT_TEMPLATE), inputs, form="short")
    return [{"role": m.role, "content": [*([{"type": "image"}] if i == 0 else []),
                                         {"type": "text", "text": m.content}]}
            for i, m in enumerate(prompt.messages)]


def refinement_answers(model_dir: Path, seeds: range, count: int, seed: int, *,
                       turns: int = 3, feedback: str = "both",
                       batch_size: int = 64) -> list[StudentAnswer]:
    """`count` dialogues of the student in `model_dir` on scenes from `seeds`: its first
    answer, then up to `turns` refinements after each wrong answer ("teacher": the demo
    teacher's feedback; "uninformative": Try again.; "both": half each). Every answer is
    returned, the first ones included."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    rng = random.Random(f"refinements:{seed}")
    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir).eval()
    processor.tokenizer.padding_side = "left"
    open_: list[dict[str, Any]] = []
    for n in range(count):
        scene_seed = rng.choice(seeds)
        mode = feedback if feedback != "both" else ("teacher", "uninformative")[n % 2]
        open_.append({"seed": scene_seed, "question": make_question(random_scene(scene_seed), rng),
                      "history": [], "mode": mode})
    out: list[StudentAnswer] = []
    for turn in range(turns + 1):
        for start in range(0, len(open_), batch_size):
            chunk = open_[start:start + batch_size]
            texts = [processor.apply_chat_template(student_messages(d["question"], d["history"]),
                                                   add_generation_prompt=True) for d in chunk]
            batch = processor(images=[render(random_scene(d["seed"])) for d in chunk],
                              text=texts, padding=True, return_tensors="pt",
                              add_special_tokens=False)
            with torch.inference_mode():
                rows = model.generate(**batch, max_new_tokens=64, do_sample=False)
            width = batch["input_ids"].shape[1]
            for d, r in zip(chunk, rows, strict=True):
                d["answer"] = processor.tokenizer.decode(r[width:], skip_special_tokens=True)
        still: list[dict[str, Any]] = []
        for d in open_:
            out.append(StudentAnswer(d["seed"], d["question"], turn, d["answer"]))
            scene = random_scene(d["seed"])
            if is_correct(d["question"], scene, d["answer"]):
                continue
            said = (teacher_feedback(d["question"], scene, d["answer"])
                    if d["mode"] == "teacher" else TRY_AGAIN)
            still.append({**d, "history": [*d["history"], d["answer"], said]})
        open_ = still
    return out


def teacher_items(answers: Sequence[StudentAnswer]) -> list[JudgeItem]:
    """fire-teacher items on these answers (`teacher_item`), each with its turn."""
    return [teacher_item(a.question, a.scene_seed, a.answer, turn=a.turn) for a in answers]
