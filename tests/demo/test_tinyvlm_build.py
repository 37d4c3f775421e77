"""A built tiny LLaVA loads back like a downloaded model and answers an image + question."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CPU_MODELS_HOW, require_module

torch = require_module("torch", CPU_MODELS_HOW)
transformers = require_module("transformers", CPU_MODELS_HOW)

from PIL import Image  # noqa: E402

from app.tinyvlm.build import build_tiny_llava  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llava(tmp_path_factory.mktemp("tiny") / "llava", seed=3)


def _conversation(question: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]


def test_loads_in_transformers_and_generates(model_dir: Path) -> None:
    processor = transformers.AutoProcessor.from_pretrained(model_dir)
    model, info = transformers.LlavaForConditionalGeneration.from_pretrained(
        model_dir, output_loading_info=True
    )
    assert not info["missing_keys"] and not info["unexpected_keys"]
    prompt = processor.apply_chat_template(
        _conversation("What is this?"), add_generation_prompt=True
    )
    inputs = processor(images=Image.new("RGB", (90, 70), "red"), text=prompt, return_tensors="pt")
    image_id = model.config.image_token_index
    assert int((inputs["input_ids"] == image_id).sum()) == 16  # (56 / 14) ** 2 patches
    out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    new_tokens = out[0, inputs["input_ids"].shape[1] :]
    assert 1 <= len(new_tokens) <= 8
    assert isinstance(processor.decode(new_tokens, skip_special_tokens=True), str)


def test_weights_use_classic_llava_names(model_dir: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(model_dir / "model.safetensors"), framework="pt") as handle:
        keys = list(handle.keys())  # noqa: SIM118
    assert any(k.startswith("vision_tower.vision_model.embeddings.") for k in keys)
    assert any(k.startswith("language_model.model.layers.") for k in keys)
    assert "language_model.lm_head.weight" in keys
    assert all(
        k.split(".")[0] in {"vision_tower", "language_model", "multi_modal_projector"} for k in keys
    )


def test_chat_template_handles_string_and_list_content(model_dir: Path) -> None:
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    as_list = tokenizer.apply_chat_template(
        _conversation("Hi?"), add_generation_prompt=True, tokenize=False
    )
    as_string = tokenizer.apply_chat_template(
        [
            {"role": "user", "content": "Hi?"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Again?"},
        ],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert as_list == "<s><|user|>Hi?<image><|assistant|>"
    assert as_string == "<s><|user|>Hi?<|assistant|>Hello.</s><|user|>Again?<|assistant|>"


def test_same_seed_same_weights(tmp_path: Path, model_dir: Path) -> None:
    again = build_tiny_llava(tmp_path / "again", seed=3)
    assert (again / "model.safetensors").read_bytes() == (
        model_dir / "model.safetensors"
    ).read_bytes()
