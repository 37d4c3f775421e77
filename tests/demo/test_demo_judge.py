"""The shipped demo judge answers every template of its contract through the transformers
engine as well as its card says, looks at the image, and the demo answer models keep the
order of accuracies the judge's bench relies on.

The engine runs the first items of the card's own held-out set (scene seeds the judge never
saw), one request at a time as the worker does, and must reproduce the card's per-item
results on them (eval.json keeps them) up to SAME_ITEMS, and the card's rate up to
TOLERANCE. Decoding is greedy, so the numbers are deterministic on one machine. The image
control (another scene's image) runs batched through the same processor and chat template.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from tests.conftest import CPU_MODELS_HOW, require_file, require_module

require_module("torch", CPU_MODELS_HOW)
require_module("transformers", CPU_MODELS_HOW)

from app.demo.judge_data import (  # noqa: E402
    BENCH,
    CATEGORY,
    JUDGE_HELD_OUT_SEEDS,
    RATINGS,
    REWARD,
    TEACHER,
    JudgeItem,
    held_out_items,
    swapped_seed,
)
from app.demo.judge_eval import (  # noqa: E402
    chat,
    generate,
    image_bytes,
    judge_prompt,
    summarise,
)
from workers.engines.base import (  # noqa: E402
    ChatMessage,
    EngineConfig,
    GenerationRequest,
    TextDelta,
)
from workers.engines.transformers_engine import TransformersEngine  # noqa: E402

DEMO = Path(__file__).resolve().parents[2] / "models" / "demo"
JUDGE = DEMO / "shapes-judge"
ANSWER_MODELS = ["shapes-small", "shapes-lite", "shapes-medium", "shapes-large", "shapes-xl"]
ITEMS = {BENCH: 16, REWARD: 12, RATINGS: 4, TEACHER: 12, CATEGORY: 16}  # through the engine
CONTROL_ITEMS = 120  # per pairwise template, batched
SAME_ITEMS = 0.15  # engine vs the card on the very same items (batching numerics, nothing else)
TOLERANCE = 0.25  # a few dozen items vs the card's few hundred (3 binomial sd when wider)


def _card() -> dict:
    require_file(JUDGE / "eval.json", "the demo judge", "train it: scripts/train_demo_judge.py")
    return json.loads((JUDGE / "eval.json").read_text())["templates"]


@pytest.fixture(scope="module")
async def engine():
    require_file(JUDGE / "model.safetensors", "the demo judge",
                 "train it: scripts/train_demo_judge.py")
    eng = TransformersEngine(EngineConfig(name="shapes-judge", backend="transformers",
                                          path=str(JUDGE)))
    await eng.start()
    yield eng
    await eng.close()


def _request(item: JudgeItem, image_seed: int | None) -> GenerationRequest:
    """What the judge runner sends: the short form, the image as the request's one image."""
    prompt = judge_prompt(item, image_bytes(image_seed))
    return GenerationRequest(
        messages=[ChatMessage(m.role, m.content) for m in prompt.messages],  # type: ignore[arg-type]
        image=image_bytes(image_seed), max_new_tokens=prompt.sampling.max_tokens,
        temperature=0.0)


async def _judge(engine: TransformersEngine, items: list[JudgeItem]) -> list[str]:
    outputs = []
    for item in items:
        events = [e async for e in engine.generate(_request(item, item.scene_seed))]
        outputs.append("".join(e.text for e in events if isinstance(e, TextDelta)))
    return outputs


@pytest.fixture(scope="module")
def items() -> dict[str, list[JudgeItem]]:
    return {t: held_out_items(t, n) for t, n in ITEMS.items()}


def test_engine_sees_the_tokens_the_judge_was_trained_and_measured_on(engine, items) -> None:
    """The worker's prompt (engine) equals the evaluation/training path's (processor)."""
    from app.demo.shapes import random_scene, render

    processor = engine._processor
    for template in ITEMS:
        item = items[template][0]
        got = engine._inputs(_request(item, item.scene_seed))["input_ids"][0].tolist()
        text = processor.apply_chat_template(
            chat(judge_prompt(item), item.scene_seed is not None), add_generation_prompt=True)
        image = render(random_scene(item.scene_seed)) if item.scene_seed is not None else None
        want = processor(text=text, images=image, add_special_tokens=False)["input_ids"][0]
        assert got == list(want), template


@pytest.mark.parametrize("template", list(ITEMS))
async def test_judge_agrees_with_the_checker_as_the_card_says(engine, items, template) -> None:
    card = _card()[template]
    n = len(items[template])
    report = summarise(items[template], await _judge(engine, items[template]))
    same_items = sum(card["first_agree"][:n]) / n
    assert abs(report["agreement"] - same_items) <= SAME_ITEMS, (report, same_items)
    # item by item, not only the rate: the engine reproduces the card's own results
    matched = sum(a == b for a, b in zip(report["first_agree"], card["first_agree"], strict=False))
    assert matched >= (1 - SAME_ITEMS) * n, (report["first_agree"], card["first_agree"][:n])
    p = card["agreement"]
    tolerance = max(TOLERANCE, 3 * math.sqrt(p * (1 - p) / n))
    assert abs(report["agreement"] - p) <= tolerance, (report, card)
    assert report["parse_rate"] >= sum(card["first_parsed"][:n]) / n - SAME_ITEMS, report
    if template == TEACHER:
        assert report["leak_rate"] <= card["leak_rate"] + 0.05, report


@pytest.mark.parametrize("template", [BENCH, REWARD])
def test_image_control_falls_to_chance_on_pairwise_verdicts(engine, template) -> None:
    """Shown another scene, the judge no longer agrees with the checker: it uses the image."""
    rng = random.Random(7)
    chosen = held_out_items(template, CONTROL_ITEMS)
    swapped = [swapped_seed(i, JUDGE_HELD_OUT_SEEDS, rng) for i in chosen]
    control = summarise(chosen, generate(engine._model, engine._processor, chosen, swapped))
    card = _card()[template]
    assert control["agreement"] <= 0.60, control
    assert abs(control["agreement"] - card["image_control"]["agreement"]) <= TOLERANCE, control
    assert control["agreement"] < card["agreement"], (control, card)


def test_five_answer_models_have_distinct_ordered_accuracies() -> None:
    """The bench's known truth: five demo models, clearly apart, in the documented order."""
    accuracies = []
    for name in ANSWER_MODELS:
        report = json.loads((DEMO / name / "eval.json").read_text())
        card = (DEMO / name / "MODEL_CARD.md").read_text()
        assert f"{report['accuracy']:.1%}" in card
        accuracies.append(report["accuracy"])
    assert all(b - a >= 0.08 for a, b in zip(accuracies, accuracies[1:], strict=False)), accuracies
    judge_card = (JUDGE / "MODEL_CARD.md").read_text()
    for name, accuracy in zip(ANSWER_MODELS, accuracies, strict=True):
        assert f"| {name} | {accuracy:.1%} |" in judge_card, name


VLLM_PYTHON = Path(__file__).resolve().parents[2] / ".venv-vllm" / "bin" / "python"


@pytest.mark.vllm
def test_judge_serves_in_vllm(tmp_path: Path) -> None:
    """vLLM (its CPU build, .venv-vllm; enforce_eager, float32) loads the shipped judge and
    returns parsable verdicts that agree with the checker about as often."""
    import base64
    import subprocess

    require_file(VLLM_PYTHON.parents[1] / ".setup-complete", "the vLLM environment .venv-vllm",
                 "create it with scripts/setup_vllm_env.sh (a few minutes, ~7 GB)")
    chosen = [i for t in (BENCH, CATEGORY, TEACHER, REWARD) for i in held_out_items(t, 10)]
    specs = []
    for n, item in enumerate(chosen):
        request = _request(item, item.scene_seed)
        specs.append({"name": str(n), "max_new_tokens": request.max_new_tokens,
                      "temperature": 0.0,
                      "messages": [{"role": m.role, "text": m.text} for m in request.messages],
                      "image_b64": base64.b64encode(request.image).decode()
                      if request.image else None})
    requests = tmp_path / "requests.json"
    requests.write_text(json.dumps(specs))
    probe = Path(__file__).resolve().parents[1] / "engines" / "vllm_probe.py"
    run = subprocess.run(
        [str(VLLM_PYTHON), str(probe), "--model", str(JUDGE), "--requests", str(requests),
         "--options", json.dumps({"max_model_len": 512}), "--out", str(tmp_path / "events.jsonl")],
        capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    results = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    outputs = {r["name"]: "".join(r["deltas"]) for r in results if r["event"] == "result"}
    assert len(outputs) == len(chosen)
    for template in (BENCH, CATEGORY, TEACHER, REWARD):
        picked = [(n, i) for n, i in enumerate(chosen) if i.template == template]
        report = summarise([i for _, i in picked], [outputs[str(n)] for n, _ in picked])
        card = _card()[template]
        assert report["parse_rate"] >= card["parse_rate"] - 0.2, (template, report)
        assert report["agreement"] >= card["agreement"] - 0.25, (template, report)


FIRE_TEACHER = DEMO / "shapes-fire-teacher"


async def test_fire_teacher_scores_what_refining_students_say_as_its_card_says() -> None:
    """The FIRE demo's teacher, through the engine as the worker runs it, on the card's own
    first items: answers that do not answer the question and the untrained base's
    refinements in held-out dialogues, where shapes-judge mostly scored them as right (its
    card: 54.5% and 73%). The engine reproduces the card item by item, and the card's
    rates are far above shapes-judge's; well-formed answers are scored as before."""
    from app.demo.judge_data import degenerate_teacher_items
    from scripts.train_demo_judge import (
        DEGENERATE_EVAL_ITEMS,
        REFINEMENT_STUDENT,
        student_answer_items,
    )

    require_file(FIRE_TEACHER / "eval.json", "the FIRE demo's teacher",
                 "train it: scripts/train_demo_judge.py --name shapes-fire-teacher ...")
    card = json.loads((FIRE_TEACHER / "eval.json").read_text())["templates"]
    assert card["degenerate_teacher"]["agreement"] >= 0.8
    assert card["student_refinements"]["agreement"] >= 0.9
    n = 30
    refined = [i for i in student_answer_items([f"{REFINEMENT_STUDENT}:300"], DEMO,
                                               JUDGE_HELD_OUT_SEEDS, 5) if i.truth["turn"] >= 1]
    sets = {"degenerate_teacher": degenerate_teacher_items(
                JUDGE_HELD_OUT_SEEDS, DEGENERATE_EVAL_ITEMS, seed=5)[:n],
            "student_refinements": refined[:n],
            TEACHER: held_out_items(TEACHER, ITEMS[TEACHER])}
    eng = TransformersEngine(EngineConfig(name="shapes-fire-teacher", backend="transformers",
                                          path=str(FIRE_TEACHER)))
    await eng.start()
    try:
        for name, chosen in sets.items():
            got = summarise(chosen, await _judge(eng, chosen))
            want = card[name]["first_agree"][:len(chosen)]
            matched = sum(a == b for a, b in zip(got["first_agree"], want, strict=True))
            assert matched >= (1 - SAME_ITEMS) * len(chosen), (name, got["first_agree"], want)
            assert got["parse_rate"] == 1.0, (name, got)
            if name == TEACHER:
                assert got["leak_rate"] <= card[TEACHER]["leak_rate"] + 0.05, got
    finally:
        await eng.close()
