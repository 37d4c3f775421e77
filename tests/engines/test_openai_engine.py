"""OpenAIEngine against a real OpenAI-compatible server: vLLM's, serving a tiny LLaVA.

The server runs from .venv-vllm (see conftest); the engine runs here, as a worker would.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass

import openai
import pytest

from tests.engines.conftest import VLLMServer
from workers.engines.base import (
    ChatMessage,
    EngineConfig,
    Finished,
    GenerationRequest,
    TextDelta,
)
from workers.engines.openai_engine import OpenAIEngine, chat_messages, image_data_url

QUESTION = "What is in the image?"
MAX_TOKENS = 16


def test_image_data_url_names_the_format(image_png: bytes) -> None:
    url = image_data_url(image_png)
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == image_png
    assert image_data_url(b"\xff\xd8\xff\xe0rest").startswith("data:image/jpeg;base64,")
    with pytest.raises(ValueError):
        image_data_url(b"not an image")


def test_chat_messages_attach_the_image_to_the_first_user_turn(image_png: bytes) -> None:
    request = GenerationRequest(
        messages=[
            ChatMessage("user", "what colour?"),
            ChatMessage("assistant", "red"),
            ChatMessage("user", "sure?"),
        ],
        image=image_png,
    )
    first, second, third = chat_messages(request)
    assert first["content"][0] == {
        "type": "image_url",
        "image_url": {"url": image_data_url(image_png)},
    }
    assert first["content"][1] == {"type": "text", "text": "what colour?"}
    assert second == {"role": "assistant", "content": "red"}
    assert third == {"role": "user", "content": "sure?"}


def test_base_url_is_required() -> None:
    with pytest.raises(ValueError, match="base_url"):
        OpenAIEngine(EngineConfig(name="m", backend="openai"))


@dataclass
class Outcome:
    deltas: list[str]
    finished: Finished

    @property
    def text(self) -> str:
        return "".join(self.deltas)


async def collect(events: AsyncIterator[object]) -> Outcome:
    deltas: list[str] = []
    finished: list[Finished] = []
    async for event in events:
        assert not finished, "nothing may follow Finished"
        if isinstance(event, TextDelta):
            deltas.append(event.text)
        else:
            assert isinstance(event, Finished)
            finished.append(event)
    assert len(finished) == 1
    return Outcome(deltas, finished[0])


def request(image: bytes | None, seed: int, max_new_tokens: int = MAX_TOKENS) -> GenerationRequest:
    return GenerationRequest(
        messages=[ChatMessage("user", QUESTION)],
        image=image,
        max_new_tokens=max_new_tokens,
        temperature=1.0,
        seed=seed,
        request_id=f"gen-{seed}",
    )


def make_engine(server: VLLMServer, **options: object) -> OpenAIEngine:
    # the served name is given by the registry name here; `model` may override it
    return OpenAIEngine(
        EngineConfig(
            name=server.model, backend="openai", options={"base_url": server.base_url, **options}
        )
    )


@pytest.fixture(scope="module")
async def engine(vllm_openai_server: VLLMServer) -> AsyncIterator[OpenAIEngine]:
    engine = make_engine(vllm_openai_server, timeout=60)
    await engine.start()
    yield engine
    await engine.close()


@pytest.mark.vllm
async def test_concurrent_streams_match_the_servers_own_answer(
    engine: OpenAIEngine, vllm_openai_server: VLLMServer, image_png: bytes
) -> None:
    seeds = list(range(6))
    outcomes = await asyncio.gather(
        *(collect(engine.generate(request(image_png, s))) for s in seeds)
    )
    client = openai.AsyncOpenAI(base_url=vllm_openai_server.base_url, api_key="EMPTY")
    try:
        for seed, outcome in zip(seeds, outcomes, strict=True):
            whole = await client.chat.completions.create(
                model=vllm_openai_server.model,
                messages=chat_messages(request(image_png, seed)),
                max_tokens=MAX_TOKENS,
                temperature=1.0,
                seed=seed,
            )
            assert outcome.text == whole.choices[0].message.content
            assert outcome.finished.completion_tokens == whole.usage.completion_tokens
            assert outcome.finished.prompt_tokens == whole.usage.prompt_tokens
            assert outcome.finished.finish_reason == whole.choices[0].finish_reason
            assert outcome.finished.finish_reason in ("stop", "length")
    finally:
        await client.close()
    assert len({o.text for o in outcomes}) == len(seeds)


@pytest.mark.vllm
async def test_image_part_reaches_the_model(engine: OpenAIEngine, image_png: bytes) -> None:
    from app.tinyvlm.build import TinyLlavaSpec

    with_image, text_only = await asyncio.gather(
        collect(engine.generate(request(image_png, 1))), collect(engine.generate(request(None, 1)))
    )
    assert (
        with_image.finished.prompt_tokens - text_only.finished.prompt_tokens
        == TinyLlavaSpec().image_tokens
    )


@pytest.mark.vllm
async def test_max_tokens_ends_with_length_and_same_seed_repeats(
    engine: OpenAIEngine, image_png: bytes
) -> None:
    short, again = await asyncio.gather(
        collect(engine.generate(request(image_png, 3, max_new_tokens=4))),
        collect(engine.generate(request(image_png, 3, max_new_tokens=4))),
    )
    assert short.finished.finish_reason == "length"
    assert short.finished.completion_tokens == 4
    assert short.text and short.text == again.text


@pytest.mark.vllm
async def test_without_usage_the_engine_counts_deltas(
    engine: OpenAIEngine, vllm_openai_server: VLLMServer, image_png: bytes
) -> None:
    bare = make_engine(vllm_openai_server, include_usage=False)
    await bare.start()
    try:
        counted = await collect(bare.generate(request(image_png, 2)))
    finally:
        await bare.close()
    reported = await collect(engine.generate(request(image_png, 2)))
    assert counted.text == reported.text
    assert counted.finished.prompt_tokens == 0
    assert counted.finished.completion_tokens == len(counted.deltas) >= 1


@pytest.mark.vllm
async def test_unknown_model_raises_the_endpoints_error(
    vllm_openai_server: VLLMServer, image_png: bytes
) -> None:
    wrong = make_engine(vllm_openai_server, model="no-such-model", max_retries=0)
    await wrong.start()
    try:
        with pytest.raises(openai.NotFoundError):
            await collect(wrong.generate(request(image_png, 0)))
    finally:
        await wrong.close()
