"""The shipped demo models load, answer through the engine, and keep their measured order."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.conftest import CPU_MODELS_HOW, require_file, require_module

require_module("torch", CPU_MODELS_HOW)
require_module("transformers", CPU_MODELS_HOW)

from app.demo.evaluate import HELD_OUT_SEEDS, evaluate_dir, examples  # noqa: E402
from app.demo.questions import is_correct  # noqa: E402
from app.demo.shapes import random_scene, render  # noqa: E402
from workers.engines.base import (  # noqa: E402
    ChatMessage,
    EngineConfig,
    Finished,
    GenerationRequest,
    TextDelta,
)
from workers.engines.transformers_engine import TransformersEngine  # noqa: E402

DEMO = Path(__file__).resolve().parents[2] / "models" / "demo"
NAMES = ["shapes-small", "shapes-medium", "shapes-large"]


@pytest.mark.parametrize("name", NAMES)
def test_shipped_model_is_small_and_documented(name: str) -> None:
    model_dir = DEMO / name
    weights = model_dir / "model.safetensors"
    assert weights.stat().st_size < 5 * 1024 * 1024
    card = (model_dir / "MODEL_CARD.md").read_text()
    report = json.loads((model_dir / "eval.json").read_text())
    assert f"{report['accuracy']:.1%}" in card
    for needed in ("config.json", "processor_config.json", "tokenizer.json", "chat_template.jinja"):
        assert (model_dir / needed).exists(), needed


def test_accuracies_differ_clearly_in_the_documented_order() -> None:
    measured = [evaluate_dir(DEMO / name, count=100, seed=99)["accuracy"] for name in NAMES]
    documented = [json.loads((DEMO / n / "eval.json").read_text())["accuracy"] for n in NAMES]
    assert measured[0] + 0.15 < measured[1] and measured[1] + 0.15 < measured[2], measured
    for got, card in zip(measured, documented, strict=True):
        assert abs(got - card) < 0.15, (measured, documented)


async def test_best_model_answers_through_the_engine() -> None:
    engine = TransformersEngine(
        EngineConfig(name="shapes-large", backend="transformers", path=str(DEMO / "shapes-large"))
    )
    await engine.start()
    try:
        right = 0
        for example in examples(HELD_OUT_SEEDS, 10, seed=5):
            scene = random_scene(example.scene_seed)
            buf = io.BytesIO()
            render(scene).save(buf, format="PNG")
            request = GenerationRequest(
                messages=[ChatMessage("user", example.question.text)],
                image=buf.getvalue(),
                max_new_tokens=64,
                temperature=0.0,
            )
            events = [e async for e in engine.generate(request)]
            finished = events[-1]
            assert isinstance(finished, Finished) and finished.finish_reason == "stop"
            text = "".join(e.text for e in events if isinstance(e, TextDelta))
            right += is_correct(example.question, scene, text)
        assert right >= 6
    finally:
        await engine.close()


VLLM_PYTHON = Path(__file__).resolve().parents[2] / ".venv-vllm" / "bin" / "python"


@pytest.mark.vllm
def test_best_model_serves_in_vllm(tmp_path: Path) -> None:
    """vLLM (its CPU build, in .venv-vllm) loads the shipped weights and answers as well."""
    import base64
    import subprocess

    require_file(VLLM_PYTHON.parents[1] / ".setup-complete", "the vLLM environment .venv-vllm",
                 "create it with scripts/setup_vllm_env.sh (a few minutes, ~7 GB)")
    items = examples(HELD_OUT_SEEDS, 12, seed=7)
    specs = []
    for i, example in enumerate(items):
        buf = io.BytesIO()
        render(random_scene(example.scene_seed)).save(buf, format="PNG")
        specs.append(
            {
                "name": str(i),
                "messages": [{"role": "user", "text": example.question.text}],
                "image_b64": base64.b64encode(buf.getvalue()).decode(),
                "max_new_tokens": 64,
                "temperature": 0.0,
            }
        )
    requests = tmp_path / "requests.json"
    requests.write_text(json.dumps(specs))
    probe = Path(__file__).resolve().parents[1] / "engines" / "vllm_probe.py"
    run = subprocess.run(
        [str(VLLM_PYTHON), str(probe), "--model", str(DEMO / "shapes-large"),
         "--requests", str(requests), "--options", json.dumps({"max_model_len": 256}),
         "--out", str(tmp_path / "events.jsonl")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    results = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    answers = {r["name"]: "".join(r["deltas"]) for r in results if r["event"] == "result"}
    assert len(answers) == len(items)
    right = sum(
        is_correct(e.question, random_scene(e.scene_seed), answers[str(i)])
        for i, e in enumerate(items)
    )
    assert right >= 6, answers
