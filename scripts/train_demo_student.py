"""Train the demo's feedback-trained FIRE student `shapes-fire-student` and ship it.

Warm-started from `shapes-medium` (same architecture and size: the comparison is with its
untrained base), then trained on a mix of plain answers and refinement dialogues
(`app.demo.student_data`): feedback that names the error, then the answer that fixes it.
The conversation is rendered by the student template (fire-student@1, short form) as the
workers render it for a student in `arena fire run`. Everything is seeded; one CPU thread.

    nice -n 10 .venv/bin/python scripts/train_demo_student.py [--steps N] [--out models/demo]

Its FIRE figures (against the base, with the demo teacher, and the controls) come from
`arena fire run` on the real stack: see the README's FIRE section and the model card.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.demo.evaluate import HELD_OUT_SEEDS, TRAIN_SEEDS, evaluate, examples  # noqa: E402
from app.demo.refinement_answers import student_messages  # noqa: E402
from app.demo.shapes import random_scene, render  # noqa: E402
from app.demo.student_data import Dialogue, make_dialogues  # noqa: E402
from app.tinyvlm.build import save_llava  # noqa: E402
from scripts.train_demo_models import PatchProbe, optimise, patch_targets  # noqa: E402

BASE = "shapes-medium"
NAME = "shapes-fire-student"


@dataclass(frozen=True)
class StudentRecipe:
    name: str = NAME
    base: str = BASE
    steps: int = 2400
    lr: float = 1.5e-3
    batch_size: int = 32
    seed: int = 66
    probe_weight: float = 0.5
    dialogues: int = 16000
    init: str | None = None  # start from this model instead of the base (stage 2)
    uninformative_after: str = "any"


def chat(d: Dialogue, with_target: bool) -> list[dict]:
    """Chat-template messages of a dialogue (the image in the first user turn), rendered
    by the student template as the FIRE runner's workers render them."""
    out = student_messages(d.question, d.history)
    if with_target:
        out.append({"role": "assistant", "content": [{"type": "text", "text": d.target}]})
    return out


def encode(processor, items: list[Dialogue], image_tokens: int) -> dict[str, torch.Tensor]:
    """Token ids, labels (the target answer only: wrong answers are context), pixels."""
    tokenizer = processor.tokenizer
    tokenizer.padding_side = "right"
    fulls = [processor.apply_chat_template(chat(d, True)) for d in items]
    prompts = [processor.apply_chat_template(chat(d, False), add_generation_prompt=True)
               for d in items]
    images = [render(random_scene(d.scene_seed)) for d in items]
    batch = processor(images=images, text=fulls, padding=True, return_tensors="pt",
                      add_special_tokens=False)
    labels = batch["input_ids"].clone()
    labels[batch["attention_mask"] == 0] = -100
    for row, prompt in enumerate(prompts):
        n = len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) + image_tokens - 1
        if row < 20:  # the shortcut equals the processor's own count
            real = processor(images=images[row], text=prompt, add_special_tokens=False)
            assert len(real["input_ids"][0]) == n, "prompt length differs from the processor's"
            assert list(real["input_ids"][0]) == batch["input_ids"][row, :n].tolist()
        labels[row, :n] = -100
    return {
        "patch_targets": torch.tensor([patch_targets(random_scene(d.scene_seed)) for d in items]),
        "input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
        "pixel_values": batch["pixel_values"].to(torch.float16), "labels": labels,
    }


def train(recipe: StudentRecipe, model, processor, data: dict[str, torch.Tensor]):
    torch.manual_seed(recipe.seed)
    probe = PatchProbe(model.config.vision_config.hidden_size, processor.tokenizer)
    return optimise(model, probe, data, recipe)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("models/demo"))
    parser.add_argument("--steps", type=int, default=StudentRecipe.steps)
    parser.add_argument("--lr", type=float, default=StudentRecipe.lr)
    parser.add_argument("--init", help="start from this model folder (stage 2)")
    parser.add_argument("--uninformative-after", choices=["any", "right"], default="any")
    parser.add_argument("--dialogues", type=int, default=StudentRecipe.dialogues)
    parser.add_argument("--seed", type=int, default=StudentRecipe.seed)
    parser.add_argument("--name", default=NAME)
    parser.add_argument("--eval-questions", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(1)  # a shared machine: more threads thrash
    from transformers import AutoModelForImageTextToText, AutoProcessor

    recipe = StudentRecipe(name=args.name, steps=args.steps, lr=args.lr, seed=args.seed,
                           dialogues=args.dialogues, init=args.init,
                           uninformative_after=args.uninformative_after)
    base_dir = args.out / recipe.base
    start_dir = Path(recipe.init) if recipe.init else base_dir
    processor = AutoProcessor.from_pretrained(start_dir)
    model = AutoModelForImageTextToText.from_pretrained(start_dir)
    image_tokens = json.loads((base_dir / "eval.json").read_text())["recipe"]["spec"]
    image_tokens = (image_tokens["image_size"] // image_tokens["patch_size"]) ** 2
    previous_stages = []
    if recipe.init:
        previous = json.loads((start_dir / "eval.json").read_text())
        previous_stages = previous.get("stages", [previous["recipe"]])
    started = time.monotonic()
    items = make_dialogues(TRAIN_SEEDS, recipe.dialogues, seed=recipe.seed,
                           uninformative_after=recipe.uninformative_after)
    data = encode(processor, items, image_tokens)
    print(f"data ready in {time.monotonic() - started:.0f} s: {tuple(data['input_ids'].shape)}",
          flush=True)
    started = time.monotonic()
    model = train(recipe, model, processor, data)
    train_s = time.monotonic() - started
    held_out = examples(HELD_OUT_SEEDS, args.eval_questions, seed=3)  # the base cards' items
    report = evaluate(model, processor, held_out)
    out = save_llava(model, processor, args.out / recipe.name)
    (out / "eval.json").write_text(json.dumps(
        {"recipe": asdict(recipe), "train_seconds": round(train_s, 1),
         "stages": [*previous_stages, asdict(recipe)], **report}, indent=2))
    print(f"{recipe.name}: turn-0 {report['accuracy']:.1%} held out, trained {train_s:.0f} s, "
          f"{report['by_kind']}", flush=True)


if __name__ == "__main__":
    main()
