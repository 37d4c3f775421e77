"""VLLMEngine: the real vLLM (CPU build) streams concurrent image+text generations.

vLLM exists only in .venv-vllm, so the engine runs in `vllm_probe.py` under that Python;
these tests check what it printed. The probe also runs each request with `reference` set
straight through vLLM (final output only), which is the ground truth for the stream.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.engines.conftest import REPO_ROOT, vllm_subprocess_env
from workers.engines.base import ChatMessage, EngineConfig, GenerationRequest
from workers.engines.vllm_engine import CPU_DEFAULTS, VLLMEngine, template_messages

PROBE = Path(__file__).with_name("vllm_probe.py")
QUESTION = "What is in the image?"
BATCH = 8
MAX_TOKENS = 24


def test_engine_args_cpu_defaults_yield_to_registry_options() -> None:
    engine = VLLMEngine(
        EngineConfig(name="m", backend="vllm", path="/models/m", options={"max_num_seqs": 4})
    )
    on_cpu = engine.engine_args(on_cpu=True)
    assert on_cpu["model"] == "/models/m"
    assert on_cpu["max_num_seqs"] == 4
    assert on_cpu["kv_cache_memory_bytes"] == CPU_DEFAULTS["kv_cache_memory_bytes"]
    assert on_cpu["enforce_eager"] is True
    on_gpu = engine.engine_args(on_cpu=False)
    assert "kv_cache_memory_bytes" not in on_gpu and "enforce_eager" not in on_gpu
    assert on_gpu["limit_mm_per_prompt"] == {"image": 1}


def test_template_messages_put_the_image_in_the_first_user_turn() -> None:
    request = GenerationRequest(
        messages=[
            ChatMessage("user", "what colour?"),
            ChatMessage("assistant", "red"),
            ChatMessage("user", "sure?"),
        ],
        image=b"\x89PNG...",
    )
    messages = template_messages(request)
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == [{"type": "image"}, {"type": "text", "text": "what colour?"}]
    assert messages[2]["content"] == [{"type": "text", "text": "sure?"}]
    with pytest.raises(ValueError):
        template_messages(GenerationRequest([ChatMessage("assistant", "hi")], image=b"x"))


def _spec(name: str, image: bytes | None, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "messages": [{"role": "user", "text": QUESTION}],
        "max_new_tokens": MAX_TOKENS,
        "temperature": 1.0,
        "reference": True,
        # a retried job reuses its generation id: the engine must cope with duplicates
        "request_id": "same-generation-id",
    }
    if image is not None:
        spec["image_b64"] = base64.b64encode(image).decode()
    return {**spec, **overrides}


@pytest.fixture(scope="module")
def probe(
    vllm_python: Path, tiny_llava_dir: Path, image_png: bytes, tmp_path_factory
) -> dict[str, Any]:
    """Run every scenario at once on one engine; results by request name."""
    specs = [_spec(f"batch-{i}", image_png, seed=100 + i) for i in range(BATCH)]
    specs += [
        _spec("same-seed-a", image_png, seed=7),
        _spec("same-seed-b", image_png, seed=7),
        _spec("length", image_png, seed=3, max_new_tokens=4),
        _spec("text-only", None, seed=5),
        _spec(
            "multi-turn",
            image_png,
            seed=9,
            messages=[
                {"role": "user", "text": QUESTION},
                {"role": "assistant", "text": "A red circle."},
                {"role": "user", "text": "Where is it?"},
            ],
        ),
    ]
    requests = tmp_path_factory.mktemp("probe") / "requests.json"
    requests.write_text(json.dumps(specs))
    done = subprocess.run(
        [str(vllm_python), str(PROBE), "--model", str(tiny_llava_dir), "--requests", str(requests)],
        capture_output=True,
        text=True,
        timeout=600,
        env=vllm_subprocess_env(),
        cwd=REPO_ROOT,
    )
    if done.returncode != 0:
        pytest.fail(f"vllm_probe.py failed ({done.returncode}):\n{done.stderr[-4000:]}")
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    results = {e["name"]: e for e in events if e["event"] == "result"}
    assert sorted(results) == sorted(s["name"] for s in specs)
    return {
        "results": results,
        "started_s": next(e["seconds"] for e in events if e["event"] == "started"),
        "batch_s": next(e["seconds"] for e in events if e["event"] == "done"),
    }


def _text(result: dict[str, Any]) -> str:
    return "".join(result["deltas"])


@pytest.mark.vllm
def test_every_request_streams_deltas_that_add_up_to_vllms_answer(probe: dict) -> None:
    for name, result in probe["results"].items():
        assert len(result["finished"]) == 1, name  # exactly one Finished, after the deltas
        finished, reference = result["finished"][0], result["reference"]
        assert _text(result) == reference["text"], name
        assert finished["completion_tokens"] == reference["completion_tokens"], name
        assert finished["prompt_tokens"] == reference["prompt_tokens"], name
        assert finished["finish_reason"] == reference["finish_reason"], name
        assert finished["finish_reason"] in ("stop", "length"), name
        assert 1 <= finished["completion_tokens"] <= MAX_TOKENS, name
        if finished["finish_reason"] == "length":
            assert finished["completion_tokens"] == MAX_TOKENS or name == "length", name


@pytest.mark.vllm
def test_concurrent_requests_are_batched_not_queued(probe: dict) -> None:
    batch = [probe["results"][f"batch-{i}"] for i in range(BATCH)]
    assert len({_text(r) for r in batch}) == BATCH  # different seeds, different answers
    # One after another they would take the sum of their times; batched, they overlap.
    assert probe["batch_s"] < 0.5 * sum(r["seconds"] for r in batch)


@pytest.mark.vllm
def test_max_tokens_ends_with_length(probe: dict) -> None:
    finished = probe["results"]["length"]["finished"][0]
    assert finished["finish_reason"] == "length"
    assert finished["completion_tokens"] == 4


@pytest.mark.vllm
def test_same_seed_gives_same_text(probe: dict) -> None:
    a, b = probe["results"]["same-seed-a"], probe["results"]["same-seed-b"]
    assert _text(a) and _text(a) == _text(b)


@pytest.mark.vllm
def test_image_reaches_the_model_as_image_tokens(probe: dict) -> None:
    from app.tinyvlm.build import TinyLlavaSpec

    with_image = probe["results"]["batch-0"]["finished"][0]["prompt_tokens"]
    text_only = probe["results"]["text-only"]["finished"][0]["prompt_tokens"]
    # the template's <image> placeholder becomes one token per image patch
    assert with_image - text_only == TinyLlavaSpec().image_tokens


@pytest.mark.vllm
def test_multi_turn_prompt_holds_the_whole_conversation(probe: dict) -> None:
    first_turn = probe["results"]["batch-0"]["finished"][0]["prompt_tokens"]
    multi = probe["results"]["multi-turn"]["finished"][0]
    assert multi["prompt_tokens"] > first_turn
    assert multi["completion_tokens"] >= 1
