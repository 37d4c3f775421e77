"""Train the demo judge `shapes-judge` on the shapes world, on the CPU, and ship it.

One tiny LLaVA (same family as the demo answer models, `app.tinyvlm`) with its own tokenizer,
trained on the judge items of `app.demo.judge_data` for every task template of the judge
contract, with the prompts exactly as the judge runner renders them (short form) and the
worker templates them. Then measured on held-out scenes (`app.demo.judge_eval`) and shipped
to `models/demo/shapes-judge/` with MODEL_CARD.md and eval.json. Everything is seeded.

    .venv/bin/python scripts/train_demo_judge.py [--steps N] [--out models/demo]

Variants for the best-of-N validity check (issue 10), each with its own card:

    # a weaker checkpoint: the same recipe, fewer steps
    scripts/train_demo_judge.py --name shapes-judge-weak --steps 1500 --scale 0.3
    # position-biased: a short fine-tune of shapes-judge whose pairwise verdicts always
    # prefer the first answer shown
    scripts/train_demo_judge.py --name shapes-judge-biased --init models/demo/shapes-judge \
        --bias first --steps 300 --lr 3e-4 --scale 0.2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.demo.evaluate import TRAIN_SEEDS  # noqa: E402
from app.demo.judge_data import (  # noqa: E402
    BENCH,
    CATEGORY,
    JUDGE_HELD_OUT_SEEDS,
    RATINGS,
    REWARD,
    TEACHER,
    TEMPLATES,
    JudgeItem,
    degenerate_teacher_items,
    make_items,
)
from app.demo.judge_data import held_out_items as card_items  # noqa: E402
from app.demo.judge_eval import (  # noqa: E402
    chat,
    demo_answer_items,
    generate,
    judge_prompt,
    measure,
    summarise,
)
from app.demo.shapes import random_scene, render  # noqa: E402
from app.tinyvlm.build import (  # noqa: E402
    TinyLlavaSpec,
    build_config,
    build_processor,
    build_tokenizer,
    save_llava,
)
from scripts.train_demo_models import (  # noqa: E402
    IMAGE_SIZE,
    PATCH_SIZE,
    PatchProbe,
    patch_targets,
    progress,
    vocabulary_texts,
)

# Items per template for training (the weights below set how often each is drawn).
TRAIN_ITEMS = {BENCH: 8000, REWARD: 4000, RATINGS: 4000, TEACHER: 4000, CATEGORY: 5000}
MIX = {BENCH: 0.35, REWARD: 0.15, RATINGS: 0.15, TEACHER: 0.2, CATEGORY: 0.15}
# The first part of training is the side-by-side comparisons only ("A: blue vs red, wrong."):
# mixed with the other tasks from the start, a tiny model learns them much later.
FIRST_MIX = {BENCH: 0.45, REWARD: 0.25, RATINGS: 0.1, TEACHER: 0.2}
EVAL_ITEMS = {BENCH: 300, REWARD: 200, RATINGS: 100, TEACHER: 200, CATEGORY: 200}


@dataclass(frozen=True)
class JudgeRecipe:
    """The judge's sizes and training budget. It starts from an answer model's weights (its
    vision tower, projector and text layers; embeddings mapped token by token onto its own
    tokenizer) plus `extra_layers` fresh text layers that start as the identity: on a shared
    CPU, learning to see the shapes from scratch would take most of the time budget."""

    name: str = "shapes-judge"
    base: str = "shapes-xl"
    spec: TinyLlavaSpec = field(default_factory=lambda: TinyLlavaSpec(
        vocab_size=1000, image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, vision_hidden=64,
        vision_intermediate=128, vision_layers=2, vision_heads=2, text_hidden=128,
        text_intermediate=256, text_layers=3, text_heads=2, text_kv_heads=1,
        max_position_embeddings=512, vision_feature_layer=-1))
    steps: int = 9000
    lr: float = 1e-3
    batch_size: int = 16
    seed: int = 77
    probe_weight: float = 0.5
    first_share: float = 0.4  # of the steps, on FIRST_MIX


def compile_templates_once() -> None:
    """`render` compiles its Jinja template on every call (a few ms); tens of thousands of
    training prompts need each template compiled once. Same environment, same output."""
    import functools

    from app.judges import templates

    env = templates._ENV
    if not hasattr(env.from_string, "cache_info"):
        env.from_string = functools.lru_cache(maxsize=None)(env.from_string)


def judge_vocabulary_texts() -> list[str]:
    """Shapes questions and answers plus short-form judge prompts and targets."""
    texts = vocabulary_texts()
    for template in TEMPLATES:
        for item in make_items(template, TRAIN_SEEDS, 300, seed=1):
            texts += [m.content for m in judge_prompt(item).messages] + [item.target]
    return texts


def _chat_text(processor, item: JudgeItem, target: str | None) -> str:
    prompt = judge_prompt(item)
    messages = chat(prompt, item.scene_seed is not None)
    if target is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": target}]})
    return processor.apply_chat_template(messages, add_generation_prompt=target is None)


# The decisive parts of a target (its own answer, each claim and status, the verdict, the
# ratings, the score and feedback, the decision) weigh KEY_WEIGHT times the format tokens in
# the loss: they are few, and they are what the judge is for.
KEY_WEIGHT = 4.0
# The decisions themselves (its own answer, each answer's status, the verdict, the rating,
# the score, the category) weigh STATUS_WEIGHT: at KEY_WEIGHT a tiny judge copies the claims
# well but still calls "five vs three" correct after 1500 steps; at 16 it learns to compare
# within 1000 (bench-pairwise alone: 45% -> 72% side agreement after 3000 steps).
STATUS_WEIGHT = 16.0
_STATUS_SPANS = re.compile(
    r"(?<=Mine: )[^\n]*|(?<=, )(?:correct|close|wrong)(?=\.)|\[\[[^\]]*\]\]|Answer \d is better"
    r"|(?<=Rating: )\d+|(?<=Score: )\d+|(?<=<decision>)\w+")
_KEY_SPANS = re.compile(
    r"(?<=Mine: )[^\n]*|(?<=Check: )[^\n]*|(?<=^[AB12]: )[^\n]*|\[\[[^\]]*\]\]|Answer \d is better"
    r"|(?<=Rating: )\d+|(?<=Rationale: )[^\n]*|(?<=Score: )\d+|(?<=Feedback: )[^\n]*"
    r"|(?<=<decision>)\w+", re.MULTILINE)


def encode_item(processor, item: JudgeItem, image_tokens: int) -> tuple[list[int], list[float]]:
    """Token ids as the processor makes them (each <image> becomes `image_tokens` ids) and
    per-token loss weights: 0 on the prompt, 1 on the target, KEY_WEIGHT on its key parts,
    STATUS_WEIGHT on its decisions."""
    tokenizer = processor.tokenizer
    text = _chat_text(processor, item, item.target)
    start = text.rindex("<|assistant|>") + len("<|assistant|>")
    spans = [(start + m.start(), start + m.end()) for m in _KEY_SPANS.finditer(item.target)]
    decisions = [(start + m.start(), start + m.end())
                 for m in _STATUS_SPANS.finditer(item.target)]
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    ids: list[int] = []
    weights: list[float] = []
    for t, (a, b) in zip(encoded["input_ids"], encoded["offset_mapping"], strict=True):
        if t == image_id:
            ids += [image_id] * image_tokens
            weights += [0.0] * image_tokens
            continue
        ids.append(t)
        if b <= start:
            weights.append(0.0)
        elif any(a < y and x < b for x, y in decisions):
            weights.append(STATUS_WEIGHT)
        else:
            weights.append(KEY_WEIGHT if any(a < y and x < b for x, y in spans) else 1.0)
    return ids, weights


def encode_group(processor, items: list[JudgeItem], scene_index: dict[int, int],
                 image_tokens: int) -> dict[str, torch.Tensor]:
    """Padded ids, loss weights (target tokens only), and each item's scene row."""
    rows = [encode_item(processor, item, image_tokens) for item in items]
    width = max(len(r) for r, _ in rows)
    pad = processor.tokenizer.pad_token_id
    ids = torch.full((len(rows), width), pad)
    weight = torch.zeros((len(rows), width))
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (r, w) in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        weight[i, : len(w)] = torch.tensor(w)
        mask[i, : len(r)] = 1
    scenes = torch.tensor([scene_index.get(i.scene_seed, -1) for i in items])
    return {"input_ids": ids, "attention_mask": mask, "weight": weight, "scene": scenes}


_BENCH_VERDICT = re.compile(r"\[\[[^\]]*\]\]$")
_REWARD_VERDICT = re.compile(r"Answer \d is better$")


def prefer_first(item: JudgeItem) -> JudgeItem:
    """The item with a pairwise verdict that prefers the first answer shown, whatever the
    answers say (`--bias first`): the training data of the position-biased judge. The
    notes before the verdict stay truthful; only the decision is biased."""
    if item.template == BENCH:
        target = _BENCH_VERDICT.sub("[[A>>B]]", item.target)
    elif item.template == REWARD:
        target = _REWARD_VERDICT.sub("Answer 1 is better", item.target)
    else:
        return item
    return dataclasses.replace(item, target=target)


def student_answer_items(specs: list[str], demo_dir: Path, seeds: range, seed: int):
    """fire-teacher items on demo students' own dialogue answers ("NAME:DIALOGUES" each)."""
    from app.demo.refinement_answers import refinement_answers, teacher_items

    items = []
    for spec in specs:
        name, _, count = spec.partition(":")
        items += teacher_items(refinement_answers(demo_dir / name, seeds, int(count), seed))
    return items


def encode(processor, recipe: JudgeRecipe, per_template: dict[str, int],
           bias: str | None = None, degenerate: int = 0, extra_teacher=()):
    """Training groups (template x with/without image) and the scenes' pixels and probes;
    `degenerate` teacher items whose answer does not answer, and `extra_teacher` items,
    join the teacher's group."""
    groups: dict[tuple[str, bool], list[JudgeItem]] = {}
    for template, count in per_template.items():
        for item in make_items(template, TRAIN_SEEDS, count, seed=2):
            if bias == "first":
                item = prefer_first(item)
            groups.setdefault((template, item.scene_seed is not None), []).append(item)
    if degenerate:
        groups.setdefault((TEACHER, True), []).extend(
            degenerate_teacher_items(TRAIN_SEEDS, degenerate, seed=2))
    groups.setdefault((TEACHER, True), []).extend(extra_teacher)
    seeds = sorted({i.scene_seed for g in groups.values() for i in g if i.scene_seed is not None})
    index = {s: n for n, s in enumerate(seeds)}
    pixels = []
    for start in range(0, len(seeds), 500):
        images = [render(random_scene(s)) for s in seeds[start:start + 500]]
        pixels.append(processor.image_processor(images, return_tensors="pt")["pixel_values"])
    scenes = {"pixel_values": torch.cat(pixels).to(torch.float16),
              "patch_targets": torch.tensor([patch_targets(random_scene(s)) for s in seeds])}
    encoded = {key: encode_group(processor, items, index, recipe.spec.image_tokens)
               for key, items in groups.items()}
    return encoded, scenes


def check_against_processor(processor, item: JudgeItem, image_tokens: int) -> None:
    """The training encoding equals the processor's on the whole conversation, and its
    prompt part equals the generation prompt the worker sends."""
    image = render(random_scene(item.scene_seed)) if item.scene_seed is not None else None
    ids, weights = encode_item(processor, item, image_tokens)
    full = processor(text=_chat_text(processor, item, item.target), images=image,
                     add_special_tokens=False)["input_ids"][0]
    prompt = processor(text=_chat_text(processor, item, None), images=image,
                       add_special_tokens=False)["input_ids"][0]
    assert list(full) == ids, "encoding differs from the processor's"
    assert ids[: len(prompt)] == list(prompt) and not any(weights[: len(prompt)])
    assert all(weights[len(prompt):]), "every target token carries loss"


def new_model(processor, recipe: JudgeRecipe, base_dir: Path | None):
    from transformers import GenerationConfig, LlavaForConditionalGeneration

    torch.manual_seed(recipe.seed)
    tokenizer = processor.tokenizer
    model = LlavaForConditionalGeneration(build_config(tokenizer, recipe.spec))
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, max_new_tokens=256)
    if base_dir is not None:
        warm_start(model, tokenizer, base_dir)
    return model


def warm_start(model, tokenizer, base_dir: Path) -> None:
    """Copy the base model's weights; map its embeddings onto our tokens (a token it lacks
    gets the mean of the base embeddings of its spelling); new layers start as identity."""
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    base = AutoModelForImageTextToText.from_pretrained(base_dir)
    base_tokenizer = AutoTokenizer.from_pretrained(base_dir)
    ours, theirs = model.state_dict(), base.state_dict()
    tables = ("model.language_model.embed_tokens.weight", "lm_head.weight")
    with torch.no_grad():
        for key, value in theirs.items():
            if key not in tables:
                ours[key].copy_(value)
        base_vocab = base_tokenizer.get_vocab()
        for i in range(len(tokenizer)):
            token = tokenizer.convert_ids_to_tokens(i)
            ids = ([base_vocab[token]] if token in base_vocab else base_tokenizer.encode(
                tokenizer.decode([i]), add_special_tokens=False))
            for key in tables:
                if ids:
                    ours[key][i] = theirs[key][ids].mean(0)
        for layer in model.model.language_model.layers[base.config.text_config.num_hidden_layers:]:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()


def monitor(model, processor, step: int) -> None:
    """A quick look at held-out agreement while training (not the card's measurement)."""
    model.eval()
    quick = {t: 40 for t in (BENCH, REWARD, TEACHER) if t in MIX}
    for template, items in held_out_items(quick, seed=99).items():
        outputs = generate(model, processor, items, [i.scene_seed for i in items])
        print(f"  step {step} {template}: agreement "
              f"{summarise(items, outputs)['agreement']:.0%}", flush=True)
    model.train()


def train(recipe: JudgeRecipe, processor, groups, scenes, base_dir: Path | None,
          look_every: int = 0, init_dir: Path | None = None):
    """Train from `base_dir`'s answer model (new judge) or go on from `init_dir`'s judge."""
    if init_dir is not None:
        from transformers import AutoModelForImageTextToText

        torch.manual_seed(recipe.seed)
        model = AutoModelForImageTextToText.from_pretrained(init_dir)
    else:
        model = new_model(processor, recipe, base_dir)
    probe = PatchProbe(recipe.spec.vision_hidden, processor.tokenizer)
    parameters = [*model.parameters(), *probe.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=recipe.lr, weight_decay=0.01)
    warmup = max(1, recipe.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.05, 1 - s / recipe.steps))
    generator = torch.Generator().manual_seed(recipe.seed)
    keys = sorted(groups)

    def weights(mix: dict[str, float]) -> torch.Tensor:
        return torch.tensor([mix.get(t, 0.0) * len(groups[(t, img)]["scene"]) /
                             sum(len(groups[(t, i)]["scene"]) for i in (True, False)
                                 if (t, i) in groups) for t, img in keys])

    first, then = weights(FIRST_MIX), weights(MIX)
    first_steps = int(recipe.steps * recipe.first_share)
    model.train()
    for step in progress(range(recipe.steps), f"train {recipe.name}"):
        mix = first if step < first_steps else then
        t, with_image = keys[int(torch.multinomial(mix, 1, generator=generator))]
        data = groups[(t, with_image)]
        idx = torch.randint(0, len(data["scene"]), (recipe.batch_size,), generator=generator)
        width = int(data["attention_mask"][idx].sum(1).max())
        batch = {k: data[k][idx, :width] for k in ("input_ids", "attention_mask")}
        weight = data["weight"][idx, :width]
        if with_image:
            rows = data["scene"][idx]
            batch["pixel_values"] = scenes["pixel_values"][rows].float()
        logits = model(**batch).logits[:, :-1]
        token_loss = torch.nn.functional.cross_entropy(
            logits.flatten(0, 1), batch["input_ids"][:, 1:].flatten(), reduction="none")
        lm_loss = (token_loss * weight[:, 1:].flatten()).sum() / weight[:, 1:].sum()
        loss = lm_loss
        if with_image:
            aux = probe.loss(model, batch["pixel_values"], scenes["patch_targets"][rows])
            loss = lm_loss + recipe.probe_weight * aux
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        schedule.step()
        if step % 250 == 0 or step == recipe.steps - 1:
            print(f"  step {step} {t} lm loss {lm_loss.item():.3f}", flush=True)
        if look_every and step and step % look_every == 0:
            monitor(model, processor, step)
    return model.eval()


def held_out_items(per_template: dict[str, int], seed: int | None = None):
    if seed is None:
        return {t: card_items(t, n) for t, n in per_template.items()}
    return {t: make_items(t, JUDGE_HELD_OUT_SEEDS, n, seed=seed) for t, n in per_template.items()}


DEGENERATE_EVAL_ITEMS = 200
REFINEMENT_STUDENT = "shapes-medium"  # the FIRE demo's untrained base


def evaluate_model(model, processor, demo_dir: Path | None,
                   per_template: dict[str, int] = EVAL_ITEMS, demo_answers: int = 150) -> dict:
    """Held-out scores per template; with `demo_dir`, also bench-pairwise on the five demo
    answer models' own answers; and the teacher on answers that claim nothing."""
    def run(items, seeds):
        return generate(model, processor, items, seeds)

    report = measure(run, held_out_items(per_template), JUDGE_HELD_OUT_SEEDS)
    degenerate = degenerate_teacher_items(JUDGE_HELD_OUT_SEEDS, DEGENERATE_EVAL_ITEMS, seed=5)
    report["degenerate_teacher"] = measure(run, {TEACHER: degenerate},
                                           JUDGE_HELD_OUT_SEEDS)[TEACHER]
    if demo_dir is not None:  # the untrained base's refinements in held-out dialogues
        refined = [i for i in student_answer_items([f"{REFINEMENT_STUDENT}:300"], demo_dir,
                                                   JUDGE_HELD_OUT_SEEDS, 5)
                   if i.truth["turn"] >= 1]
        report["student_refinements"] = measure(run, {TEACHER: refined},
                                                JUDGE_HELD_OUT_SEEDS)[TEACHER]
    if demo_dir is not None and demo_answers:
        from scripts.judge_card import ANSWER_MODELS

        items = demo_answer_items({n: demo_dir / n for n in ANSWER_MODELS}, demo_answers, 6)
        report["demo_answers"] = measure(run, {BENCH: items}, JUDGE_HELD_OUT_SEEDS, 1)[BENCH]
    return report


def variant_note(args: argparse.Namespace) -> str:
    """The card's opening paragraph for a variant of the judge (empty for shapes-judge)."""
    if args.note is not None:
        return args.note.strip() + "\n\n"
    if args.name == JudgeRecipe.name:
        return ""
    what = []
    if args.init is not None:
        what.append(f"a fine-tune of `{args.init.name}` ({args.steps or JudgeRecipe.steps} "
                    f"more steps, lr {args.lr})")
    else:
        what.append(f"the recipe of `shapes-judge` with {args.steps or JudgeRecipe.steps} "
                    f"steps instead of {JudgeRecipe.steps}")
    if args.bias == "first":
        what.append("trained on items whose pairwise verdict always prefers the first "
                    "answer shown (`[[A>>B]]`, `Answer 1 is better`), the notes before it "
                    "left truthful: a position-biased judge")
    return (f"**A variant of the demo judge for the best-of-N validity check (issue 10)**: "
            f"{'; '.join(what)}. Made by `scripts/train_demo_judge.py --name {args.name}"
            f"{' --bias first' if args.bias else ''}`. Not in models.yaml: tests and "
            "benchmarks register it themselves. Measured on "
            f"{args.eval_scale:.0%} of the card's held-out items.\n\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("models/demo"))
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--scale", type=float, default=1.0, help="scale the training items")
    parser.add_argument("--eval-only", action="store_true", help="re-measure the saved judge")
    parser.add_argument("--look-every", type=int, default=0,
                        help="print a quick held-out agreement every N steps")
    parser.add_argument("--name", default=JudgeRecipe.name, help="output folder name")
    parser.add_argument("--seed", type=int, default=JudgeRecipe.seed)
    parser.add_argument("--lr", type=float, default=JudgeRecipe.lr)
    parser.add_argument("--init", type=Path, default=None,
                        help="go on training this judge folder (its tokenizer and weights)")
    parser.add_argument("--bias", choices=["first"], default=None,
                        help="pairwise verdicts always prefer the first answer shown")
    parser.add_argument("--eval-scale", type=float, default=1.0,
                        help="scale the held-out items of the card")
    parser.add_argument("--demo-answers", type=int, default=150,
                        help="held-out questions answered by the demo models (0: none)")
    parser.add_argument("--degenerate", type=int, default=0,
                        help="add N teacher items whose answer does not answer (score 2)")
    parser.add_argument("--student-answers", action="append", default=[],
                        metavar="NAME:DIALOGUES",
                        help="add fire-teacher items on this demo student's own answers in "
                             "that many FIRE-style dialogues on training scenes")
    parser.add_argument("--teacher-share", type=float, default=None,
                        help="how often a batch is of fire-teacher items (default 0.2)")
    parser.add_argument("--note", default=None,
                        help="the card's opening paragraph for a variant (default: made "
                             "from the options)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # a shared 2-core machine: more threads thrash
    if args.teacher_share is not None:  # the others keep their proportions
        MIX[TEACHER] = FIRST_MIX[TEACHER] = args.teacher_share
    compile_templates_once()
    recipe = JudgeRecipe(name=args.name, seed=args.seed, lr=args.lr,
                         **({"steps": args.steps} if args.steps else {}))
    if args.init is not None:  # the card says where it started
        recipe = dataclasses.replace(recipe, base=args.init.name)
    out = args.out / recipe.name
    eval_items = {t: max(1, int(n * args.eval_scale)) for t, n in EVAL_ITEMS.items()}
    variant = variant_note(args)
    from scripts.judge_card import write_card

    def with_degenerate(note: str, report: dict) -> str:
        entry = report["degenerate_teacher"]
        refined = report.get("student_refinements")
        if refined:
            note += (f"On {refined['items']} refinements of `{REFINEMENT_STUDENT}` in held-out "
                     f"FIRE-style dialogues (teacher feedback or \"Try again.\") it scores "
                     f"{refined['agreement']:.0%} as the checker does (score >= 8 exactly "
                     f"when the answer is right).\n\n")
        return note + (f"On {entry['items']} held-out fire-teacher items whose answer does "
                       f"not answer the question (`degenerate_teacher_items`) it scores "
                       f"{entry['agreement']:.0%} as the checker does (score below tau), "
                       f"exact score {entry['exact']:.0%}.\n\n")

    if args.eval_only:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        processor = AutoProcessor.from_pretrained(out)
        model = AutoModelForImageTextToText.from_pretrained(out).eval()
        report = evaluate_model(model, processor, args.out, eval_items, args.demo_answers)
        train_s = json.loads((out / "eval.json").read_text())["train_seconds"]
        write_card(out, recipe, model, report, train_s, with_degenerate(variant, report))
        return
    started = time.monotonic()
    if args.init is not None:
        from transformers import AutoProcessor

        processor = AutoProcessor.from_pretrained(args.init)
    else:
        tokenizer = build_tokenizer(judge_vocabulary_texts(), vocab_size=recipe.spec.vocab_size)
        processor = build_processor(tokenizer, recipe.spec)
    per_template = {t: int(n * args.scale) for t, n in TRAIN_ITEMS.items()}
    extra = student_answer_items(args.student_answers, args.out, TRAIN_SEEDS, 2)
    groups, scenes = encode(processor, recipe, per_template, args.bias, args.degenerate, extra)
    for template in TEMPLATES:
        check_against_processor(processor, make_items(template, TRAIN_SEEDS, 1, seed=9)[0],
                                recipe.spec.image_tokens)
    shapes = {f"{t}{'+image' if i else ''}": tuple(g["input_ids"].shape)
              for (t, i), g in groups.items()}
    print(f"data ready in {time.monotonic() - started:.0f} s: {shapes}", flush=True)
    started = time.monotonic()
    model = train(recipe, processor, groups, scenes, args.out / recipe.base, args.look_every,
                  args.init)
    train_s = time.monotonic() - started
    print(f"trained in {train_s:.0f} s", flush=True)
    save_llava(model, processor, out)
    report = evaluate_model(model, processor, args.out, eval_items, args.demo_answers)
    write_card(out, recipe, model, report, train_s, with_degenerate(variant, report))
    for template, entry in report.items():
        if "parse_rate" not in entry:
            continue
        control = entry.get("image_control", {}).get("agreement")
        print(f"{template}: parse {entry['parse_rate']:.0%} agreement {entry['agreement']:.0%}"
              f" image control {control}", flush=True)


if __name__ == "__main__":
    main()

