"""Write the demo judge's MODEL_CARD.md and eval.json from a measurement report.

Why: the card is the judge's contract with the workflows (which template, which short form,
what output, how good) and the tests compare against eval.json; both come from one report
so they can never disagree.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from app.demo.categories import load_categories
from app.demo.judge_data import BENCH, CATEGORY, RATINGS, RATINGS_K, REWARD, TEACHER, TEMPLATES
from app.judges import get_template

OUTPUTS = {
    BENCH: "`Mine: red.` `A: blue vs red, wrong.` `B: red vs red, correct.` then "
           "`[[A>>B]]` … `[[B>>A]]`",
    CATEGORY: "`<decision>yes</decision>` / `<decision>no</decision>`",
    RATINGS: "`Mine: …` `1: … vs …, correct.` …, then per aspect, per text: `Text N`, "
             "`Rating: 1-5`, `Rationale: …`",
    REWARD: "`Mine: …` `1: …` `2: …` then `Overall Judgment: Answer N is better`",
    TEACHER: "`Check: blue vs red, wrong.` (a note) then `Score: 1-10` and `Feedback: …` "
             "(never the ground truth)",
}
AGREEMENT = {
    BENCH: "preferred side (A / tie / B) equals the checker's",
    CATEGORY: "label equals the shapes-world rule",
    RATINGS: "every answer's Helpfulness is >= 4 exactly when the checker says right",
    REWARD: "picks the answer the checker prefers",
    TEACHER: "score >= 8 exactly when the checker says right",
}


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def _short(template_id: str) -> str:
    name, version = template_id.split("@")
    form = get_template(name, int(version)).forms["short"]
    return "<br>".join(line.replace("|", "\\|") for line in form.user.strip().splitlines())


def _table(report: dict[str, Any]) -> str:
    rows = ["| template | full form (real judges) | short form (demo judge) | output | parse "
            "rate | agreement with the checker | image control | length baseline |",
            "|---|---|---|---|---|---|---|---|"]
    for t in TEMPLATES:
        e = report[t]
        control = e.get("image_control", {}).get("agreement")
        length = e.get("length_baseline", {}).get("agreement")
        rows.append(f"| `{t}` | [`app/judges/templates/{t}.yaml`](../../../app/judges/templates/"
                    f"{t}.yaml) `full` | <code>{_short(t)}</code> | {OUTPUTS[t]} | "
                    f"{_pct(e['parse_rate'])} | **{_pct(e['agreement'])}** ({AGREEMENT[t]}) | "
                    f"{_pct(control)} | {_pct(length)} |")
    return "\n".join(rows)


def _by_kind(entry: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.0%}" for k, v in entry["by_kind"].items())


def _details(report: dict[str, Any]) -> str:
    b, r, v, t, c = (report[x] for x in (BENCH, REWARD, RATINGS, TEACHER, CATEGORY))
    cats = "\n".join(
        f"| {cat.name} | {cat.sees} | {cat.question} | {_pct(c['by_kind'].get(cat.name))} | "
        f"{_pct(c['image_control']['by_kind'].get(cat.name))} |" for cat in load_categories())
    return f"""\
**bench-pairwise** ({b['items']} pairs; truth verdicts {b['verdicts']}): exact verdict
{_pct(b['exact'])}; on pairs where exactly one answer is right {_pct(b['decisive_agreement'])}
(image control {_pct(b['image_control']['decisive_agreement'])}, length baseline
{_pct(b['length_baseline']['decisive_agreement'])}); on ties {_pct(b['tie_agreement'])}.
By question kind: {_by_kind(b)}.

**vlrewardbench-pairwise** ({r['items']} pairs, every one with a better answer): by kind
{_by_kind(r)}.

**vlfeedback-ratings** ({v['items']} prompts of k = {' or '.join(map(str, RATINGS_K))}
answers; the demo judge rates exactly this many):
per answer {_pct(v['answer_agreement'])} on the right side; every rating exactly as the rule
{_pct(v['exact'])}. Ethical Considerations is always 5: nothing in the shapes world is
unethical, so this aspect cannot be learned (or measured) here.

**fire-teacher** ({t['items']} answers): exact score {_pct(t['exact'])}; feedback names the
mistake as the rule does {_pct(t['feedback_match'])}; **parsed feedback that states the ground
truth: {_pct(t['leak_rate'])}** (`app.judges.leakage.leaks_ground_truth`, with the colour,
shape, place, size, number and yes/no words of the ground truth as values). The teacher is
given the ground truth as text, so the image control barely moves it
({_pct(t['image_control']['agreement'])}).

**category** ({c['items']} items, balanced yes/no per category; `app/demo/categories.yaml`):

| category | sees | question | agreement | image control |
|---|---|---|---|---|
{cats}
"""


CARD = """# {name}

{variant}The demo world's judge (issue 8): a tiny LLaVA-architecture vision-language model (CLIP
vision tower + Llama text model + projector, the family of the demo answer models) that
reads an image, a question and one or more answers and returns a verdict in the format of
each judge task template. It only knows the shapes world (`app/demo/shapes.py`). Made by
`scripts/train_demo_judge.py`; loads with transformers (`AutoModelForImageTextToText`) and
vLLM (classic llava-hf weight names, `enforce_eager`, float32) like the answer models
(`tests/demo/test_demo_judge.py::test_judge_serves_in_vllm` serves 40 judge prompts through
the vLLM engine and checks their parse rate and agreement against this card).

| | |
|---|---|
| parameters | {params:,} |
| weights on disk | {size_kb:,} KB (float32 safetensors) |
| tokenizer | its own byte-level BPE ({vocab} tokens), trained on shapes questions and answers and on the short-form judge prompts and outputs |
| image | {image_size} px, patch {patch_size} ({image_tokens} image tokens), after the prompt text (the chat template of the demo models) |
| text model | hidden {text_hidden}, {text_layers} layers, head_dim 64 |
| start | the weights of `{base}` (vision tower, projector, its {base_layers} text layers; embeddings mapped token by token), plus {extra} new text layer(s) that start as the identity |
| training | {steps} steps, batch {batch_size}, AdamW lr {lr}, seed {seed}, {train_s:.0f} s on one CPU thread of a shared machine; items from training scenes only |
| measured on | held-out scenes (seeds {held_out}), greedy decoding (temperature 0), prompts from `render(template, inputs, form="short")` through the model's chat template, as the transformers worker builds them |

## The judge contract: templates, forms, measured quality

{table}

*Agreement* counts unparsable outputs as disagreement. *Image control*: the same items with
the image swapped for another scene's; a judge that looks at the image falls towards chance
there (≤ 60% required on the pairwise verdicts). *Length baseline*: a "judge" that prefers
the longer answer (equal length: tie). Answers are made so that wording and length say
nothing about correctness, so it stays near chance.

{details}

## The demo answer models it judges

Five answer models of one architecture family and clearly different held-out accuracy (their
cards: `models/demo/<name>/MODEL_CARD.md`), so that a bench judged by this judge has a known
right order (issue 8):

{answer_models}

{demo_answers}

## How the targets are defined

The truth is the shapes checker's (`app.demo.questions.is_correct`), refined by
`app.demo.judge_answers.grade` into right / near miss (a description of two or more shapes
with exactly one slip) / wrong, with the mistake named (colour, shape, place, size, count,
yes/no, other). Candidate answers are the demo models' kinds of mistakes, in three wordings
(terse, plain, wordy) drawn independently of correctness (`app/demo/judge_answers.py`).

- **bench-pairwise**: right vs not right → strong (`[[A>>B]]` / `[[B>>A]]`); both right →
  `[[A=B]]`; both wrong → `[[A=B]]`, except the **weak verdicts**: when both are wrong and
  exactly one is a near miss, the near miss is slightly better (`[[A>B]]` / `[[B>A]]`). The
  judge answers the question itself first (`Mine: …`), as Arena-Hard's judge prompt asks,
  then writes each answer's claim next to its own answer and whether it is correct (side
  by side, a tiny model compares them locally); the parser reads only the verdict. The
  short forms end with the question again ("answer first: …"), right before the image, as
  in the prompts the answer models were trained on.
- **vlrewardbench-pairwise**: the better answer by the same order (right > near miss > wrong).
- **vlfeedback-ratings**: Helpfulness and Visual Faithfulness 5 right, 3 near miss, 1 wrong,
  rationale naming the mistake; Ethical Considerations 5 always (see above). The demo uses
  **k = {k}** answers per prompt (trained and measured on that k only).
- **fire-teacher**: first a check line, the student's claim next to the ground truth's
  (`Check: blue vs red, wrong.`), then score 10 right, 5 near miss, 2 wrong (the FIRE
  student stops at 8), and feedback that names the kind of mistake ("The colour is wrong.
  Look at that shape again.", "The count is wrong. Count the shapes again.") and never a
  colour, shape, place, size, number or yes/no. **The check line states the ground truth**:
  it is the teacher's note, which the parser ignores; a FIRE runner must give the student
  the parsed feedback (`TeacherReply.feedback`) only, never the raw output. (Without the
  side-by-side note, a model this small did not learn to compare the two answers: its
  scores stayed at chance.)
- **category**: `<decision>yes|no</decision>` by the rule of each demo category.

## Pointing the judge at a real model

The demo judge is a registry entry with `role: judge` (never drawn into battles: weight 0,
not ranked) whose prompts are the templates' **short** forms. A real judge is any registry
model, served by vLLM or by an OpenAI-compatible endpoint, with **`judge_form: full`** in its
`options`: the runner then renders `render(template, inputs, form="full")`, the papers'
prompts. **`options.judge_form` (`full` | `short`, default `full`) is the contract** between
the registry and the judge runner. For example:

```yaml
models:
  - name: qwen2-vl-judge           # a vLLM-served VLM on the GPU workers
    backend: vllm
    path: /models/Qwen2-VL-7B-Instruct
    role: judge
    weight: 0
    ranked: false
    max_new_tokens: 4096
    options: {{ judge_form: full, max_model_len: 8192 }}
  - name: gpt-4o-judge             # an OpenAI-compatible endpoint
    backend: openai
    role: judge
    weight: 0
    ranked: false
    options: {{ judge_form: full, base_url: "https://api.openai.com/v1", model: gpt-4o }}
```

Reproduce: `.venv/bin/python scripts/train_demo_judge.py` (re-measure only: `--eval-only`).
"""  # noqa: E501


ANSWER_MODELS = ["shapes-small", "shapes-lite", "shapes-medium", "shapes-large", "shapes-xl"]


def _answer_models(demo_dir: Path) -> str:
    rows = ["| model | held-out accuracy |", "|---|---|"]
    for name in ANSWER_MODELS:
        accuracy = json.loads((demo_dir / name / "eval.json").read_text())["accuracy"]
        rows.append(f"| {name} | {accuracy:.1%} |")
    return "\n".join(rows)


def _demo_answers(report: dict[str, Any]) -> str:
    e = report.get("demo_answers")
    if not e:
        return ""
    return (f"On **the demo models' own answers** ({e['items']} held-out questions, each "
            f"answered by two of the five models drawn at random; truth verdicts "
            f"{e['verdicts']}), bench-pairwise: parse rate {_pct(e['parse_rate'])}, "
            f"agreement {_pct(e['agreement'])}, on pairs with exactly one right answer "
            f"{_pct(e['decisive_agreement'])}; image control "
            f"{_pct(e['image_control']['agreement'])}; length baseline "
            f"{_pct(e['length_baseline']['agreement'])}.")


def write_card(out: Path, recipe: Any, model: Any, report: dict[str, Any],
               train_s: float, variant: str = "") -> None:
    size = sum(f.stat().st_size for f in out.glob("*.safetensors"))
    spec = recipe.spec
    base_layers = json.loads((out.parent / recipe.base / "config.json").read_text())[
        "text_config"]["num_hidden_layers"]
    card = CARD.format(
        name=recipe.name, variant=variant,
        params=sum(p.numel() for p in model.parameters()), size_kb=size // 1024,
        vocab=model.config.text_config.vocab_size, image_size=spec.image_size,
        patch_size=spec.patch_size, image_tokens=spec.image_tokens,
        text_hidden=spec.text_hidden, text_layers=spec.text_layers, base=recipe.base,
        base_layers=base_layers, extra=spec.text_layers - base_layers, steps=recipe.steps,
        batch_size=recipe.batch_size, lr=recipe.lr, seed=recipe.seed, train_s=train_s,
        held_out="12,000,000–12,999,999", table=_table(report), details=_details(report),
        k=" or ".join(map(str, RATINGS_K)), answer_models=_answer_models(out.parent),
        demo_answers=_demo_answers(report))
    (out / "MODEL_CARD.md").write_text(card)
    (out / "eval.json").write_text(json.dumps(
        {"recipe": asdict(recipe), "train_seconds": round(train_s, 1), "templates": report},
        indent=2))
