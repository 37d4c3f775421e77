"""The transformers engine streams a real tiny LLaVA's answer under the engine contract."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from tests.conftest import CPU_MODELS_HOW, require_module

require_module("torch", CPU_MODELS_HOW)
require_module("transformers", CPU_MODELS_HOW)

from PIL import Image  # noqa: E402

from app.tinyvlm.build import build_tiny_llava  # noqa: E402
from workers.engines.base import (  # noqa: E402
    ChatMessage,
    EngineConfig,
    EngineEvent,
    Finished,
    GenerationRequest,
    TextDelta,
)
from workers.engines.transformers_engine import (  # noqa: E402
    IncrementalDecoder,
    TransformersEngine,
)


def _png(colour: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llava(tmp_path_factory.mktemp("engine") / "tiny", seed=5)


@pytest.fixture
async def engine(model_dir: Path):
    eng = TransformersEngine(EngineConfig(name="tiny", backend="transformers", path=str(model_dir)))
    await eng.start()
    yield eng
    await eng.close()


def _request(**overrides) -> GenerationRequest:
    fields = {
        "messages": [ChatMessage("user", "What colour is the shape?")],
        "image": _png("red"),
        "max_new_tokens": 12,
        "temperature": 0.0,
    }
    fields.update(overrides)
    return GenerationRequest(**fields)


async def _collect(engine: TransformersEngine, request: GenerationRequest) -> list[EngineEvent]:
    return [event async for event in engine.generate(request)]


def _text(events: list[EngineEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def _reference(model_dir: Path, request: GenerationRequest) -> tuple[str, int, int]:
    """Greedy answer straight from transformers, for comparison."""
    import transformers

    processor = transformers.AutoProcessor.from_pretrained(model_dir)
    model = transformers.AutoModelForImageTextToText.from_pretrained(model_dir)
    conversation = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": m.text}]}
        for m in request.messages
    ]
    prompt = processor.apply_chat_template(conversation, add_generation_prompt=True)
    image = Image.open(io.BytesIO(request.image)).convert("RGB")
    inputs = processor(images=image, text=prompt, return_tensors="pt", add_special_tokens=False)
    out = model.generate(**inputs, max_new_tokens=request.max_new_tokens, do_sample=False)
    new = out[0, inputs["input_ids"].shape[1] :]
    return processor.decode(new, skip_special_tokens=True), inputs["input_ids"].shape[1], len(new)


async def test_streams_deltas_that_match_plain_transformers(
    engine: TransformersEngine, model_dir: Path
) -> None:
    request = _request()
    events = await _collect(engine, request)
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert sum(isinstance(e, Finished) for e in events) == 1
    assert all(isinstance(e, TextDelta) and e.text for e in events[:-1])
    text, prompt_tokens, completion_tokens = _reference(model_dir, request)
    assert _text(events) == text
    assert (finished.prompt_tokens, finished.completion_tokens) == (
        prompt_tokens,
        completion_tokens,
    )
    assert finished.prompt_tokens > 16  # 16 image tokens + the question
    # This random model does not say EOS within 12 tokens: it hits the limit.
    assert (finished.completion_tokens, finished.finish_reason) == (12, "length")


async def test_tiny_top_p_is_greedy(engine: TransformersEngine) -> None:
    greedy = _text(await _collect(engine, _request(max_new_tokens=16)))
    nucleus = [
        _text(
            await _collect(engine, _request(max_new_tokens=16, temperature=1.5, top_p=1e-6, seed=s))
        )
        for s in (1, 2)
    ]
    assert nucleus == [greedy, greedy]


async def test_max_new_tokens_gives_length(engine: TransformersEngine) -> None:
    events = await _collect(engine, _request(max_new_tokens=5, temperature=1.0, seed=1))
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert finished.completion_tokens <= 5
    if finished.finish_reason == "length":
        assert finished.completion_tokens == 5
    else:  # the random model happened to say EOS
        assert finished.finish_reason == "stop"


async def test_concurrent_generations_all_complete(engine: TransformersEngine) -> None:
    requests = [
        _request(image=_png(colour), seed=i, temperature=0.9, max_new_tokens=8)
        for i, colour in enumerate(["red", "blue", "green", "white"])
    ]
    results = await asyncio.gather(*(_collect(engine, r) for r in requests))
    for events in results:
        assert isinstance(events[-1], Finished)
        assert sum(isinstance(e, Finished) for e in events) == 1
        assert 1 <= events[-1].completion_tokens <= 8
    # Each stream's content is its own: the same request alone gives the same text.
    alone = await _collect(engine, requests[2])
    assert _text(alone) == _text(results[2])


async def test_seed_reproducible_and_seeds_differ(engine: TransformersEngine) -> None:
    texts = [
        _text(await _collect(engine, _request(temperature=1.0, seed=s, max_new_tokens=16)))
        for s in (7, 7, 8, 9)
    ]
    assert texts[0] == texts[1]
    assert len(set(texts[1:])) > 1


async def test_text_only_and_multi_turn(engine: TransformersEngine) -> None:
    text_only = await _collect(engine, _request(image=None))
    assert isinstance(text_only[-1], Finished)
    with_image = await _collect(engine, _request())
    assert text_only[-1].prompt_tokens + 16 == with_image[-1].prompt_tokens
    turns = [
        ChatMessage("user", "What is it?"),
        ChatMessage("assistant", "A red circle."),
        ChatMessage("user", "Are you sure?"),
    ]
    multi = await _collect(engine, _request(messages=turns))
    assert multi[-1].prompt_tokens > with_image[-1].prompt_tokens


async def test_leaving_early_does_not_block_the_next_generation(
    engine: TransformersEngine,
) -> None:
    stream = engine.generate(_request(max_new_tokens=200, temperature=1.0, seed=3))
    first = await anext(stream)
    assert isinstance(first, TextDelta | Finished)
    await stream.aclose()
    events = await asyncio.wait_for(_collect(engine, _request(max_new_tokens=4)), 60)
    assert isinstance(events[-1], Finished)


async def test_bad_image_raises(engine: TransformersEngine) -> None:
    with pytest.raises(Exception):  # noqa: B017
        await _collect(engine, _request(image=b"not an image"))


def test_incremental_decoder_holds_back_split_characters(model_dir: Path) -> None:
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    text = "Größe: 3 ★ shapes"
    ids = tokenizer.encode(text, add_special_tokens=False)
    decoder = IncrementalDecoder(tokenizer)
    deltas = [decoder.push([i]) for i in ids] + [decoder.flush()]
    assert "".join(deltas) == text
    assert all("\ufffd" not in d for d in deltas)
