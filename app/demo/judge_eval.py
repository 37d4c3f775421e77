"""Measure a judge on demo-world items: parse rate and agreement with the shapes checker per
template, the image control (the same items shown another scene) and a length-only baseline.

Why: the demo judge's card states how good it is on every template, and the tests hold it
to that. Prompts are built exactly as the judge runner and the transformers worker build
them: `render(template, inputs, form="short")`, the image as a content part of the first
user turn (workers.engines.vllm_engine.template_messages), the model's own chat template.
Decoding is greedy (temperature 0).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from app.demo.judge_data import (
    BENCH,
    CATEGORY,
    RATINGS,
    REWARD,
    TEACHER,
    JudgeItem,
    swapped_seed,
)
from app.demo.questions import NUMBERS, PLACES
from app.demo.shapes import COLOURS, KINDS, POSITIONS, SIZES, random_scene, render, render_png
from app.judges import (
    ParseFailure,
    get_template,
    leaks_ground_truth,
    parse_output,
    preferred_side,
)
from app.judges import render as render_prompt
from app.judges.templates import JudgePrompt

_VALUE_WORDS = {*COLOURS, *KINDS, *POSITIONS, *SIZES, *NUMBERS, "yes", "no"}


def template_of(item: JudgeItem):
    name, version = item.template.split("@")
    return get_template(name, int(version))


def judge_prompt(item: JudgeItem, image: Any = None) -> JudgePrompt:
    return render_prompt(template_of(item), item.inputs(image), form="short")


def chat(prompt: JudgePrompt, with_image: bool) -> list[dict[str, Any]]:
    """The chat-template messages the worker builds for this prompt (image part first)."""
    out: list[dict[str, Any]] = []
    pending = with_image
    for m in prompt.messages:
        parts: list[dict[str, Any]] = []
        if pending and m.role == "user":
            parts.append({"type": "image"})
            pending = False
        parts.append({"type": "text", "text": m.content})
        out.append({"role": m.role, "content": parts})
    return out


def generate(model: Any, processor: Any, items: Sequence[JudgeItem],
             image_seeds: Sequence[int | None], batch_size: int = 32) -> list[str]:
    """Greedy judge outputs for `items`, each shown the scene of its `image_seeds` entry."""
    import torch

    tokenizer = processor.tokenizer
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    outputs: list[str] = [""] * len(items)
    groups: dict[tuple[str, bool], list[int]] = defaultdict(list)
    for i, (item, seed) in enumerate(zip(items, image_seeds, strict=True)):
        groups[(item.template, seed is not None)].append(i)
    try:
        for (_, with_image), indices in groups.items():
            max_new = template_of(items[indices[0]]).sampling("short").max_tokens
            for start in range(0, len(indices), batch_size):
                chunk = indices[start:start + batch_size]
                texts = [processor.apply_chat_template(
                    chat(judge_prompt(items[i]), with_image), add_generation_prompt=True)
                    for i in chunk]
                kwargs: dict[str, Any] = {"text": texts, "padding": True, "return_tensors": "pt",
                                          "add_special_tokens": False}
                if with_image:
                    kwargs["images"] = [render(random_scene(image_seeds[i])) for i in chunk]
                batch = processor(**kwargs)
                with torch.inference_mode():
                    out = model.generate(**batch, max_new_tokens=max_new, do_sample=False)
                width = batch["input_ids"].shape[1]
                for i, row in zip(chunk, out, strict=True):
                    outputs[i] = tokenizer.decode(row[width:], skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
    return outputs


# --- scoring ---------------------------------------------------------------------------

def truth_values(ground_truth: str) -> list[str]:
    """The answer-revealing values a ground truth names (for the leak check)."""
    text = ground_truth.lower()
    words = {w.strip(".,;!?") for w in text.split()}
    return sorted((words & _VALUE_WORDS) | {p for p in PLACES.values() if p in text})


def score_item(item: JudgeItem, output: str) -> dict[str, Any]:
    """Per-item scores: `parsed` and `agree` always, plus per-template details."""
    parsed = parse_output(template_of(item), output, item.inputs())
    if isinstance(parsed, ParseFailure):
        return {"parsed": False, "agree": False}
    t = item.truth
    if item.template == BENCH:
        v = parsed.value
        return {"parsed": True, "agree": preferred_side(v) == preferred_side(t["verdict"]),
                "exact": v == t["verdict"],
                "decisive": t["correct"][0] != t["correct"][1]}
    if item.template == REWARD:
        return {"parsed": True, "agree": parsed.better == t["better"]}
    if item.template == CATEGORY:
        return {"parsed": True, "agree": parsed.yes == t["yes"]}
    if item.template == RATINGS:
        rows = parsed.matrix()
        side = [(r[0] >= 4) == c for r, c in zip(rows, t["correct"], strict=True)]
        exact = [r[0] == want and r[1] == want for r, want in
                 zip(rows, t["ratings"], strict=True)]
        return {"parsed": True, "agree": all(side), "answers_agree": sum(side),
                "answers": len(side), "exact": all(exact)}
    if item.template == TEACHER:
        gt = item.text_inputs["ground_truth"]
        return {"parsed": True, "agree": (parsed.score >= 8) == t["correct"],
                "exact": parsed.score == t["score"],
                "leak": leaks_ground_truth(parsed.feedback, gt, values=truth_values(gt)),
                "feedback_match": f"Feedback: {parsed.feedback}" in item.target}
    raise ValueError(item.template)


FIRST = 40  # per-item results kept for the first items, so a test can redo exactly those


def summarise(items: Sequence[JudgeItem], outputs: Sequence[str]) -> dict[str, Any]:
    """Parse rate, agreement and the template's details over `items` (of one template);
    `first_agree` / `first_parsed`: per item, for the first FIRST items."""
    scores = [score_item(i, o) for i, o in zip(items, outputs, strict=True)]
    n = len(scores)
    out: dict[str, Any] = {"items": n,
                           "parse_rate": round(sum(s["parsed"] for s in scores) / n, 3),
                           "agreement": round(sum(s["agree"] for s in scores) / n, 3),
                           "first_agree": [int(s["agree"]) for s in scores[:FIRST]],
                           "first_parsed": [int(s["parsed"]) for s in scores[:FIRST]]}
    by_kind: dict[str, list[bool]] = defaultdict(list)
    for item, s in zip(items, scores, strict=True):
        by_kind[item.kind].append(s["agree"])
    out["by_kind"] = {k: round(sum(v) / len(v), 3) for k, v in sorted(by_kind.items())}
    template = items[0].template
    if template in (BENCH, RATINGS, TEACHER):
        out["exact"] = round(sum(s.get("exact", False) for s in scores) / n, 3)
    if template == BENCH:
        decisive = [s["agree"] for s in scores if s.get("decisive")]
        tied = [s["agree"] for i, s in zip(items, scores, strict=True)
                if i.truth["verdict"] == "A=B"]
        out["decisive_agreement"] = round(sum(decisive) / max(1, len(decisive)), 3)
        out["tie_agreement"] = round(sum(tied) / max(1, len(tied)), 3)
        out["verdicts"] = dict(Counter(i.truth["verdict"] for i in items))
    if template == RATINGS:
        out["answer_agreement"] = round(sum(s.get("answers_agree", 0) for s in scores)
                                        / sum(len(i.truth["correct"]) for i in items), 3)
    if template == TEACHER:
        parsed = [s for s in scores if s["parsed"]]
        out["leak_rate"] = round(sum(s["leak"] for s in parsed) / max(1, len(parsed)), 3)
        out["feedback_match"] = round(sum(s["feedback_match"] for s in parsed)
                                      / max(1, len(parsed)), 3)
    return out


def length_outputs(items: Sequence[JudgeItem]) -> list[str]:
    """A judge that prefers the longer answer (ties: equal length): the length baseline."""
    outs = []
    for item in items:
        x = item.text_inputs
        if item.template == BENCH:
            a, b = len(x["answer_a"]), len(x["answer_b"])
            outs.append("[[A>>B]]" if a > b else "[[B>>A]]" if b > a else "[[A=B]]")
        else:
            better = 1 if len(x["answer_1"]) >= len(x["answer_2"]) else 2
            outs.append(f"Overall Judgment: Answer {better} is better")
    return outs


def measure(run: Callable[[Sequence[JudgeItem], Sequence[int | None]], list[str]],
            items_by_template: dict[str, list[JudgeItem]], control_seeds: range,
            seed: int = 0) -> dict[str, Any]:
    """Per template: the judge's scores, the image control's, the length baseline's."""
    report: dict[str, Any] = {}
    rng = random.Random(seed)
    for template, items in items_by_template.items():
        own = [i.scene_seed for i in items]
        swapped = [swapped_seed(i, control_seeds, rng) for i in items]
        outputs = run(items, own)
        entry = summarise(items, outputs)
        entry["samples"] = [{"prompt": judge_prompt(i).messages[-1].content, "output": o,
                             "target": i.target} for i, o in zip(items[:3], outputs, strict=False)]
        if any(s is not None for s in own):
            entry["image_control"] = summarise(items, run(items, swapped))
        if template in (BENCH, REWARD):
            entry["length_baseline"] = summarise(items, length_outputs(items))
        report[template] = entry
    return report


def model_answers(model_dir: Any, questions: Sequence[tuple[int, Any]],
                  batch_size: int = 50) -> list[str]:
    """A demo answer model's greedy answers to (scene seed, question) pairs."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from app.demo.evaluate import conversation

    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir).eval()
    processor.tokenizer.padding_side = "left"
    out: list[str] = []
    for start in range(0, len(questions), batch_size):
        chunk = questions[start:start + batch_size]
        texts = [processor.apply_chat_template(conversation(q.text), add_generation_prompt=True)
                 for _, q in chunk]
        batch = processor(images=[render(random_scene(s)) for s, _ in chunk], text=texts,
                          padding=True, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            rows = model.generate(**batch, max_new_tokens=48, do_sample=False)
        width = batch["input_ids"].shape[1]
        out += [processor.tokenizer.decode(r[width:], skip_special_tokens=True) for r in rows]
    return out


def demo_answer_items(model_dirs: dict[str, Any], count: int, seed: int) -> list[JudgeItem]:
    """bench-pairwise items whose two answers are two demo models' own answers to a held-out
    question (the bench's real situation), with the checker's truth."""
    from app.demo.judge_answers import answer_key, grade, own_answer
    from app.demo.judge_data import JUDGE_HELD_OUT_SEEDS, bench_target, verdict
    from app.demo.questions import make_question

    rng = random.Random(f"demo-answers:{seed}")
    questions = []
    for scene_seed in rng.sample(JUDGE_HELD_OUT_SEEDS, count):
        questions.append((scene_seed, make_question(random_scene(scene_seed), rng)))
    answers = {name: model_answers(path, questions) for name, path in model_dirs.items()}
    items = []
    for n, (scene_seed, question) in enumerate(questions):
        scene = random_scene(scene_seed)
        a, b = rng.sample(sorted(answers), 2)
        ga, gb = (grade(question, scene, answers[m][n]) for m in (a, b))
        items.append(JudgeItem(BENCH, question.kind, {
            "question": question.text, "answer_a": answers[a][n], "answer_b": answers[b][n]},
            scene_seed, bench_target(own_answer(question, scene), [
                answer_key(question, answers[m][n]) for m in (a, b)], ga, gb),
            {"verdict": verdict(ga, gb), "correct": [ga.correct, gb.correct],
             "levels": [ga.level, gb.level], "models": [a, b]}))
    return items


def image_bytes(seed: int | None) -> bytes | None:
    return None if seed is None else render_png(random_scene(seed))


__all__ = ["BENCH", "CATEGORY", "FIRST", "RATINGS", "REWARD", "TEACHER", "chat", "generate",
           "image_bytes", "judge_prompt", "length_outputs", "measure", "score_item",
           "summarise", "truth_values"]
