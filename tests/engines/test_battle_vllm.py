"""A battle whose sides are served by the production backends: the vLLM engine in a worker
(.venv-vllm, CPU build) and the OpenAI-compatible backend against vLLM's own server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.arena.stack import (
    ArenaStack,
    assert_streams_match_answers,
    consented_client,
    create_battle,
    frozen,
    read_sse,
    services_stack,
)
from tests.engines.conftest import VLLMServer, vllm_subprocess_env

pytestmark = pytest.mark.vllm
MODELS = ["vllm-tiny", "openai-tiny"]


@pytest.fixture(scope="module")
def vllm_stack(
    pg_url: str, redis_url: str, redis_prefix: str, vllm_python: Path, tiny_llava_dir: Path,
    vllm_openai_server: VLLMServer, tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ArenaStack]:
    data = tmp_path_factory.mktemp("vllm-stack")
    registry = data / "models.yaml"
    registry.write_text(yaml.safe_dump({"models": [
        {"name": "vllm-tiny", "backend": "vllm", "path": str(tiny_llava_dir),
         "max_new_tokens": 24, "concurrency": 8, "options": {"max_model_len": 512}},
        {"name": "openai-tiny", "backend": "openai", "max_new_tokens": 24, "concurrency": 8,
         "options": {"base_url": vllm_openai_server.base_url,
                     "model": vllm_openai_server.model}},
    ]}))
    vllm_env = {k: v for k, v in vllm_subprocess_env().items() if k.startswith(("VLLM", "HF"))}
    s = services_stack(pg_url, redis_url, redis_prefix + "vllm:", registry, data, **vllm_env)
    try:
        s.start_web()
        s.start_worker("w-vllm", "vllm-tiny", python=str(vllm_python))
        s.start_worker("w-openai", "openai-tiny")
        s.wait_models_online(MODELS, timeout=600)
        yield s
    finally:
        s.stop()


def test_battle_between_vllm_engine_and_openai_backend(vllm_stack: ArenaStack) -> None:
    client = consented_client(vllm_stack.url)
    raw: list[bytes] = []
    with frozen(vllm_stack, ["w-vllm", "w-openai"]) as resume:
        battle = create_battle(client, "What shape is in the picture?")
        events = read_sse(client, f"/api/battles/{battle['id']}/stream", raw=raw,
                          timeout=300, on_open=resume)
    assert events[-1].data == {"can_vote": True, "failed": False}
    assert_streams_match_answers(events)
    for name in MODELS:
        assert name.encode() not in b"\n".join(raw)

    voted = client.post(f"/api/battles/{battle['id']}/vote", json={"winner": "tie"})
    assert voted.status_code == 200
    view = voted.json()
    assert {view["models"]["a"], view["models"]["b"]} == set(MODELS)
    for side in "ab":
        answer = view["turns"][0][side]
        assert answer["completion_tokens"] and 0 < answer["completion_tokens"] <= 24
        assert answer["ttft_ms"] is not None

    r = client.post(f"/api/battles/{battle['id']}/turns", json={"prompt": "More?"})
    assert r.status_code == 409  # voted: the battle is over
