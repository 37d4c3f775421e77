"""`arena train dpo` on the real tiny model: held-out margins rise, the folder serves, bad
input is refused before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from app.training.base import load_model
from app.training.data import load_preferences
from app.training.margins import preference_margins
from arena_cli.main import cli
from tests.training.conftest import BASE

runner = CliRunner()


def train(data: Path, out: Path, *extra: str) -> object:
    return runner.invoke(cli, ["train", "dpo", "--model", "shapes-small", "--data", str(data),
                               "--out", str(out), *extra])


@pytest.fixture(scope="module")
def tuned(train_pairs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dpo-run") / "shapes-small-dpo-test"
    result = train(train_pairs, out, "--steps", "40", "--lr", "5e-4", "--beta", "0.1",
                   "--batch-size", "16", "--eval-questions", "60")
    assert result.exit_code == 0, result.output
    return out


def test_dpo_raises_the_margin_on_held_out_pairs(tuned: Path, held_out_pairs: Path) -> None:
    held_out = load_preferences(held_out_pairs).dataset
    assert len(held_out) >= 60
    before = np.array(preference_margins(*load_model(BASE), held_out))
    after = np.array(preference_margins(*load_model(tuned), held_out))
    gain = after - before
    low = gain.mean() - stats.t.ppf(0.975, gain.size - 1) * gain.std(ddof=1) / np.sqrt(gain.size)
    assert low > 0, (before.mean(), after.mean(), low)  # paired 95% lower bound above zero
    assert (after > 0).mean() > (before > 0).mean() + 0.1, ((before > 0).mean(),
                                                            (after > 0).mean())


def test_card_says_what_made_the_model(tuned: Path, train_pairs: Path) -> None:
    facts = json.loads((tuned / "training.json").read_text())
    manifest = json.loads((train_pairs / "manifest.json").read_text())
    card = (tuned / "MODEL_CARD.md").read_text()
    assert facts["method"] == "dpo" and facts["base"] == "shapes-small"
    assert facts["data"]["rows"] == manifest["rows"] == sum(facts["data"]["sources"].values())
    assert set(facts["data"]["sources"]) == {"ai", "human"}
    assert facts["data"]["sha256_of"] == "manifest.json"
    import hashlib

    assert facts["data"]["sha256"] == hashlib.sha256(
        (train_pairs / "manifest.json").read_bytes()).hexdigest()
    assert facts["settings"]["steps"] == 40 and facts["settings"]["beta"] == 0.1
    ev = facts["evaluation"]
    assert ev["n"] == 60 and len(ev["right_tuned"]) == 60
    assert f"{ev['tuned']:.1%}" in card and f"{ev['base']:.1%}" in card
    assert facts["data"]["sha256"] in card and "40, batch 16" in card


def test_written_folder_has_vllm_key_names(tuned: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(tuned / "model.safetensors"), framework="pt") as handle:
        keys = list(handle.keys())  # noqa: SIM118
    assert any(k.startswith("vision_tower.vision_model.") for k in keys)
    assert not any(k.startswith("model.") for k in keys), keys[:5]
    assert not list(tuned.parent.glob(f".{tuned.name}.*")), "temporary folders left"


async def test_written_folder_answers_in_the_transformers_engine(tuned: Path) -> None:
    from app.demo.evaluate import HELD_OUT_SEEDS, examples
    from app.demo.shapes import random_scene, render_png
    from workers.engines.base import ChatMessage, EngineConfig, Finished, GenerationRequest
    from workers.engines.transformers_engine import TransformersEngine

    engine = TransformersEngine(EngineConfig(name="tuned", backend="transformers",
                                             path=str(tuned)))
    await engine.start()
    try:
        e = examples(HELD_OUT_SEEDS, 1, seed=5)[0]
        events = [ev async for ev in engine.generate(GenerationRequest(
            [ChatMessage("user", e.question.text)], image=render_png(random_scene(e.scene_seed)),
            max_new_tokens=48, temperature=0.0))]
    finally:
        await engine.close()
    assert isinstance(events[-1], Finished) and events[-1].finish_reason == "stop"
    text = "".join(getattr(ev, "text", "") for ev in events[:-1])
    assert text.strip() and "<" not in text, text


def test_shipped_dpo_model_reproduces_its_card() -> None:
    """models/demo/shapes-small-dpo: small, documented, and its held-out answers are the ones
    its card counted (greedy, item by item on the first 100 of the 1,000 questions)."""
    from app.training.heldout import correctness, held_out_questions
    from tests.training.conftest import DEMO

    shipped = DEMO / "shapes-small-dpo"
    assert sum(f.stat().st_size for f in shipped.iterdir()) < 3 * 1024 * 1024
    facts = json.loads((shipped / "training.json").read_text())
    ev = facts["evaluation"]
    card = (shipped / "MODEL_CARD.md").read_text()
    assert ev["n"] == 1000 and ev["low"] > 0, ev  # the interval on the difference excludes 0
    assert f"{ev['tuned']:.1%}" in card and f"{ev['base']:.1%}" in card
    items = held_out_questions(ev["n"], seed=ev["seed"])[:100]
    assert [int(x) for x in correctness(*load_model(shipped), items)] == ev["right_tuned"][:100]
    assert [int(x) for x in correctness(*load_model(BASE), items)] == ev["right_base"][:100]


def test_lora_run_merges_into_a_plain_model(train_pairs: Path, tmp_path: Path) -> None:
    out = tmp_path / "lora"
    result = train(train_pairs, out, "--steps", "5", "--lora", "--lora-rank", "4",
                   "--eval-questions", "0")
    assert result.exit_code == 0, result.output
    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), framework="pt") as handle:
        keys = list(handle.keys())  # noqa: SIM118
        base = safe_open(str(BASE / "model.safetensors"), framework="pt")
        assert sorted(keys) == sorted(base.keys())  # adapters merged: the base's tensors only
        changed = [k for k in keys if "q_proj" in k
                   and not (handle.get_tensor(k) == base.get_tensor(k)).all()]
    assert changed, "LoRA changed no attention weight"
    facts = json.loads((out / "training.json").read_text())
    assert facts["settings"]["lora"] and facts["evaluation"] is None
    assert "LoRA rank 4 (merged)" in (out / "MODEL_CARD.md").read_text()
