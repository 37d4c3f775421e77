"""Train the demo's LLaVA models on the shapes world, on the CPU, and ship them.

Five models of one architecture family (CLIP vision tower + Llama text model, as in
`app.tinyvlm`) with different capacities and training budgets, so their held-out accuracies
differ clearly and the arena's leaderboard (and the judge's bench) has a known right order.
Everything is seeded. The demo judge is trained by scripts/train_demo_judge.py.
Each model lands in `models/demo/<name>/` with a MODEL_CARD.md and `eval.json`.

    .venv/bin/python scripts/train_demo_models.py [--only shapes-small] [--out models/demo]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from app.demo.evaluate import HELD_OUT_SEEDS, TRAIN_SEEDS, Example, conversation, evaluate, examples
from app.demo.shapes import COLOURS, KINDS, POSITIONS, SIZES, random_scene, render
from app.tinyvlm.build import TinyLlavaSpec, build_processor, build_tokenizer, save_llava

IMAGE_SIZE, PATCH_SIZE = 60, 20  # 3x3 patches: one per named place, each holds one shape


@dataclass(frozen=True)
class Recipe:
    name: str
    spec: TinyLlavaSpec
    steps: int
    lr: float
    batch_size: int = 32
    seed: int = 0
    probe_weight: float = 1.0  # weight of the auxiliary patch loss (0: language loss only)


def _spec(**sizes: int) -> TinyLlavaSpec:
    return TinyLlavaSpec(
        vocab_size=600,
        image_size=IMAGE_SIZE,
        patch_size=PATCH_SIZE,
        vision_feature_layer=-1,  # the layer the patch probe trains
        **sizes,
    )


RECIPES = [
    Recipe(
        "shapes-small",
        _spec(vision_hidden=32, vision_intermediate=64, vision_layers=1, vision_heads=2,
              text_hidden=64, text_intermediate=128, text_layers=1, text_heads=1,
              text_kv_heads=1),
        steps=150, lr=3e-3, seed=11,
    ),
    Recipe(
        "shapes-medium",
        _spec(vision_hidden=32, vision_intermediate=64, vision_layers=2, vision_heads=2,
              text_hidden=64, text_intermediate=256, text_layers=2, text_heads=1,
              text_kv_heads=1),
        steps=2600, lr=3e-3, seed=22,
    ),
    Recipe(
        "shapes-large",
        _spec(vision_hidden=32, vision_intermediate=64, vision_layers=2, vision_heads=2,
              text_hidden=64, text_intermediate=256, text_layers=2, text_heads=1,
              text_kv_heads=1),
        steps=5000, lr=3e-3, seed=33,
    ),
    # Added for the judges issue: ranking agreement over three models says little, so two
    # more capacities/budgets sit between and above the first three (existing ones untouched).
    Recipe(
        "shapes-lite",
        _spec(vision_hidden=32, vision_intermediate=64, vision_layers=2, vision_heads=2,
              text_hidden=64, text_intermediate=256, text_layers=2, text_heads=1,
              text_kv_heads=1),
        steps=1000, lr=3e-3, seed=44,
    ),
    Recipe(
        "shapes-xl",
        _spec(vision_hidden=64, vision_intermediate=128, vision_layers=2, vision_heads=2,
              text_hidden=128, text_intermediate=256, text_layers=2, text_heads=2,
              text_kv_heads=1),
        steps=6000, lr=2e-3, seed=55,
    ),
]  # fmt: skip


def vocabulary_texts() -> list[str]:
    return [f"{e.question.text} {e.answer}" for e in examples(TRAIN_SEEDS, 3000, seed=1)]


def progress(steps: range, what: str):
    """A rich progress bar over `steps` (plain log lines still mark the loss every 250)."""
    from rich.progress import track

    return track(steps, description=what, total=len(steps), transient=False)


TEXT_KEYS = ("input_ids", "attention_mask", "labels")
GRID = IMAGE_SIZE // PATCH_SIZE
_ATTRIBUTES = (["none", *COLOURS], ["none", *KINDS], ["none", *SIZES])


def patch_targets(scene) -> list[list[int]]:
    """Per image patch: index of (colour, kind, size) of the shape centred in it, 0 if none."""
    targets = [[0, 0, 0] for _ in range(GRID * GRID)]
    for shape in scene.shapes:
        fx, fy = POSITIONS[shape.position]
        cell = int(fy * GRID) * GRID + int(fx * GRID)
        values = (shape.colour, shape.kind, shape.size)
        targets[cell] = [names.index(v) for names, v in zip(_ATTRIBUTES, values, strict=True)]
    return targets


CELL_WORDS = {  # image patch index (row-major, 3x3) -> the place word the questions use
    int(fy * GRID) * GRID + int(fx * GRID): name for name, (fx, fy) in POSITIONS.items()
}


class PatchProbe(torch.nn.Module):
    """Training-only auxiliary losses on the image tokens; dropped after training.

    The language-model loss alone reaches the vision tower weakly and late, and a tiny text
    model needs many steps to bind image tokens to words. Two dense signals shortcut that:
    heads read each patch's shape off the vision tower's output, and each projected image
    token is pulled towards the sum of the text embeddings of what it shows ("large", "red",
    "circle", "left"), so the text model can answer by attending to matching tokens. The
    shipped model is a plain LLaVA.
    """

    def __init__(self, hidden: int, tokenizer) -> None:
        super().__init__()
        self.heads = torch.nn.ModuleList(torch.nn.Linear(hidden, len(a)) for a in _ATTRIBUTES)

        def ids(word: str) -> list[int]:
            return tokenizer.encode(" " + word, add_special_tokens=False)

        self.attribute_ids = [[ids(w) if w != "none" else [] for w in a] for a in _ATTRIBUTES]
        self.cell_ids = [ids(CELL_WORDS[c]) if c in CELL_WORDS else [] for c in range(GRID**2)]

    @staticmethod
    def _vectors(table: torch.Tensor, groups: list[list[int]]) -> torch.Tensor:
        zero = torch.zeros(table.shape[1])
        return torch.stack([table[g].mean(0) if g else zero for g in groups])

    def loss(self, model, pixel_values: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        features = model.model.vision_tower(pixel_values).last_hidden_state[:, 1:]
        read = sum(
            torch.nn.functional.cross_entropy(
                head(features).flatten(0, 1), targets[..., i].flatten()
            )
            for i, head in enumerate(self.heads)
        )
        table = model.get_input_embeddings().weight.detach()
        wanted = self._vectors(table, self.cell_ids).unsqueeze(0)
        for i, groups in enumerate(self.attribute_ids):
            wanted = wanted + self._vectors(table, groups)[targets[..., i]]
        projected = model.model.multi_modal_projector(features)
        scale = wanted.pow(2).sum(-1).mean()
        align = (projected - wanted).pow(2).sum(-1).mean() / scale
        return read + align


def encode_training_set(processor, items: list[Example]) -> dict[str, torch.Tensor]:
    """Pixel values, token ids and labels (answer tokens only) for every training example."""
    tokenizer = processor.tokenizer
    tokenizer.padding_side = "right"
    prompts, fulls = [], []
    for e in items:
        prompts.append(
            processor.apply_chat_template(conversation(e.question.text), add_generation_prompt=True)
        )
        fulls.append(processor.apply_chat_template(conversation(e.question.text, e.answer)))
    images = [render(random_scene(e.scene_seed)) for e in items]
    batch = processor(
        images=images, text=fulls, padding=True, return_tensors="pt", add_special_tokens=False
    )
    labels = batch["input_ids"].clone()
    labels[batch["attention_mask"] == 0] = -100
    for row, prompt in enumerate(prompts):
        prompt_len = len(
            processor(images=images[row], text=prompt, add_special_tokens=False)["input_ids"][0]
        )
        labels[row, :prompt_len] = -100
    return {
        "patch_targets": torch.tensor([patch_targets(random_scene(e.scene_seed)) for e in items]),
        "input_ids": batch["input_ids"],
        "attention_mask": batch["attention_mask"],
        "pixel_values": batch["pixel_values"].to(torch.float16),
        "labels": labels,
    }  # fmt: skip


def train(recipe: Recipe, processor, data: dict[str, torch.Tensor]):
    from transformers import GenerationConfig, LlavaForConditionalGeneration

    from app.tinyvlm.build import build_config

    torch.manual_seed(recipe.seed)
    model = LlavaForConditionalGeneration(build_config(processor.tokenizer, recipe.spec))
    tokenizer = processor.tokenizer
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        max_new_tokens=64,
    )
    probe = PatchProbe(recipe.spec.vision_hidden, processor.tokenizer)
    return optimise(model, probe, data, recipe)


def optimise(model, probe: PatchProbe, data: dict[str, torch.Tensor], recipe):
    """AdamW with warm-up and linear decay on random batches of `data`: the language loss
    plus `recipe.probe_weight` times the probe's (the demo student continues a trained
    model with this loop). `recipe` has name, steps, lr, batch_size, seed, probe_weight."""
    parameters = [*model.parameters(), *probe.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=recipe.lr, weight_decay=0.01)
    warmup = max(1, recipe.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min(1.0, (step + 1) / warmup) * max(0.05, 1 - step / recipe.steps),
    )
    generator = torch.Generator().manual_seed(recipe.seed)
    n = data["input_ids"].shape[0]
    model.train()
    for step in progress(range(recipe.steps), f"train {recipe.name}"):
        idx = torch.randint(0, n, (recipe.batch_size,), generator=generator)
        width = int(data["attention_mask"][idx].sum(1).max())
        batch = {k: v[idx, :width] if k in TEXT_KEYS else v[idx] for k, v in data.items()}
        batch["pixel_values"] = batch["pixel_values"].float()
        targets = batch.pop("patch_targets")
        lm_loss = model(**batch).loss
        loss = lm_loss + recipe.probe_weight * probe.loss(model, batch["pixel_values"], targets)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        schedule.step()
        if step % 250 == 0 or step == recipe.steps - 1:
            print(f"  {recipe.name} step {step} lm loss {lm_loss.item():.3f}"
                  f" total {loss.item():.3f}", flush=True)  # fmt: skip
    return model.eval()


MODEL_CARD = """# {name}

A tiny LLaVA-architecture vision-language model (CLIP vision tower + Llama text model +
projector) trained from scratch on the CPU on the synthetic shapes world (`app/demo/shapes.py`)
for the vlm-arena demo. It only knows that world: coloured circles, squares, triangles and
stars, and the question templates in `app/demo/questions.py`. Made by
`scripts/train_demo_models.py` (language-model loss plus training-only auxiliary losses on
the image tokens, see `PatchProbe`); loads with transformers (`AutoModelForImageTextToText`)
and vLLM (classic llava-hf weight names). Its chat template puts the image after the text.

| | |
|---|---|
| parameters | {params:,} |
| weights on disk | {size_kb:,} KB (float32 safetensors) |
| image | {image_size} px, patch {patch_size} ({image_tokens} image tokens) |
| vision tower | hidden {vision_hidden}, layers {vision_layers}, heads {vision_heads} |
| text model | hidden {text_hidden}, layers {text_layers}, heads {text_heads}, head_dim 64 |
| training | {steps} steps, batch {batch_size}, AdamW lr {lr}, seed {seed}, {train_s:.0f} s on one CPU thread |
| **held-out accuracy** | **{accuracy:.1%}** on {questions} questions about unseen scenes |

Accuracy by question kind: {by_kind}

Example answers (held out):

{samples}
"""  # noqa: E501


def write_card(out: Path, recipe: Recipe, model, report: dict, train_s: float) -> None:
    size = sum(f.stat().st_size for f in out.glob("*.safetensors"))
    samples = "\n".join(
        f"- {s['question']} → {s['answer']!r} ({'right' if s['correct'] else 'wrong'})"
        for s in report["samples"]
    )
    card = MODEL_CARD.format(
        name=recipe.name,
        params=sum(p.numel() for p in model.parameters()),
        size_kb=size // 1024,
        image_tokens=recipe.spec.image_tokens,
        steps=recipe.steps,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        seed=recipe.seed,
        train_s=train_s,
        by_kind=", ".join(f"{k} {v:.0%}" for k, v in report["by_kind"].items()),
        samples=samples,
        **{k: report[k] for k in ("accuracy", "questions")},
        **{k: v for k, v in asdict(recipe.spec).items()},
    )
    (out / "MODEL_CARD.md").write_text(card)
    (out / "eval.json").write_text(
        json.dumps({"recipe": asdict(recipe), "train_seconds": round(train_s, 1), **report},
                   indent=2)
    )  # fmt: skip


def rewrite_cards(out: Path, only: list[str] | None, held_out: list[Example]) -> None:
    """Re-score already trained models (e.g. after a checker fix) without training again."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    for recipe in RECIPES:
        if only and recipe.name not in only:
            continue
        model_dir = out / recipe.name
        processor = AutoProcessor.from_pretrained(model_dir)
        model = AutoModelForImageTextToText.from_pretrained(model_dir).eval()
        train_s = json.loads((model_dir / "eval.json").read_text())["train_seconds"]
        report = evaluate(model, processor, held_out)
        write_card(model_dir, recipe, model, report, train_s)
        print(f"{recipe.name}: {report['accuracy']:.1%} held out, {report['by_kind']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("models/demo"))
    parser.add_argument("--only", action="append", help="train only these recipes")
    parser.add_argument("--train-examples", type=int, default=15000)
    parser.add_argument("--eval-questions", type=int, default=300)
    parser.add_argument(
        "--cards-only", action="store_true", help="re-evaluate saved models, rewrite their cards"
    )
    args = parser.parse_args()

    torch.set_num_threads(1)  # on a shared 2-core machine, more threads thrash (3-4x slower)
    if args.cards_only:
        rewrite_cards(args.out, args.only, examples(HELD_OUT_SEEDS, args.eval_questions, seed=3))
        return
    torch.manual_seed(0)
    tokenizer = build_tokenizer(vocabulary_texts(), vocab_size=600)
    processor = build_processor(tokenizer, RECIPES[0].spec)
    started = time.monotonic()
    data = encode_training_set(processor, examples(TRAIN_SEEDS, args.train_examples, seed=2))
    held_out = examples(HELD_OUT_SEEDS, args.eval_questions, seed=3)
    print(f"data ready in {time.monotonic() - started:.0f} s: {tuple(data['input_ids'].shape)}")
    for recipe in RECIPES:
        if args.only and recipe.name not in args.only:
            continue
        started = time.monotonic()
        model = train(recipe, processor, data)
        train_s = time.monotonic() - started
        report = evaluate(model, processor, held_out)
        out = save_llava(model, processor, args.out / recipe.name)
        write_card(out, recipe, model, report, train_s)
        print(f"{recipe.name}: {report['accuracy']:.1%} held out, trained {train_s:.0f} s,"
              f" {report['by_kind']}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
