"""VLLMEngine: the real vLLM (CPU build) streams concurrent image+text generations.

vLLM exists only in .venv-vllm, so the engine runs in `vllm_probe.py` under that Python, on
the requests of `conftest.probe_scenarios` (named batch-0.., same-seed-a/b, length,
text-only, multi-turn), all at once; these tests check what it printed. The probe also runs
each request straight through vLLM (final output only): the ground truth for the stream.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.engines.conftest import PROBE_BATCH as BATCH
from tests.engines.conftest import PROBE_MAX_TOKENS as MAX_TOKENS
from tests.engines.conftest import probe_scenarios
from workers.engines.base import ChatMessage, EngineConfig, GenerationRequest
from workers.engines.vllm_engine import CPU_DEFAULTS, VLLMEngine, template_messages


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


def _text(result: dict[str, Any]) -> str:
    return "".join(result["deltas"])


@pytest.mark.vllm
def test_every_request_streams_deltas_that_add_up_to_vllms_answer(vllm_probe: dict) -> None:
    assert sorted(vllm_probe["results"]) == sorted(s["name"] for s in probe_scenarios(b""))
    for name, result in vllm_probe["results"].items():
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
def test_concurrent_requests_are_batched_not_queued(vllm_probe: dict) -> None:
    batch = [vllm_probe["results"][f"batch-{i}"] for i in range(BATCH)]
    assert len({_text(r) for r in batch}) == BATCH  # different seeds, different answers
    # One after another they would take the sum of their times; batched, they overlap.
    assert vllm_probe["batch_s"] < 0.5 * sum(r["seconds"] for r in batch)


@pytest.mark.vllm
def test_max_tokens_ends_with_length(vllm_probe: dict) -> None:
    finished = vllm_probe["results"]["length"]["finished"][0]
    assert finished["finish_reason"] == "length"
    assert finished["completion_tokens"] == 4


@pytest.mark.vllm
def test_same_seed_gives_same_text(vllm_probe: dict) -> None:
    a, b = vllm_probe["results"]["same-seed-a"], vllm_probe["results"]["same-seed-b"]
    assert _text(a) and _text(a) == _text(b)


@pytest.mark.vllm
def test_image_reaches_the_model_as_image_tokens(vllm_probe: dict) -> None:
    from app.tinyvlm.build import TinyLlavaSpec

    with_image = vllm_probe["results"]["batch-0"]["finished"][0]["prompt_tokens"]
    text_only = vllm_probe["results"]["text-only"]["finished"][0]["prompt_tokens"]
    # the template's <image> placeholder becomes one token per image patch
    assert with_image - text_only == TinyLlavaSpec().image_tokens


@pytest.mark.vllm
def test_multi_turn_prompt_holds_the_whole_conversation(vllm_probe: dict) -> None:
    first_turn = vllm_probe["results"]["batch-0"]["finished"][0]["prompt_tokens"]
    multi = vllm_probe["results"]["multi-turn"]["finished"][0]
    assert multi["prompt_tokens"] > first_turn
    assert multi["completion_tokens"] >= 1
