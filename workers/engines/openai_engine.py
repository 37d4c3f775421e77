"""Engine backend for any OpenAI-compatible chat-completions endpoint.

Lets the arena serve models it does not host (a vLLM or SGLang server elsewhere, a hosted
API). The image travels as a base64 `data:` URL content part, so the endpoint needs no
access to our blob store.

Options (`EngineConfig.options`):
    base_url     (str, required)  e.g. "http://gpu-box:8000/v1"
    model        (str)            served model name; defaults to `EngineConfig.name`
    api_key      (str)            the key itself, resolved by the caller from settings
                                  (modules do not read os.environ); default "EMPTY"
    timeout      (float)          seconds per request, default 120
    max_retries  (int)            retries of failed connects/5xx before streaming, default 2
    headers      (dict[str, str]) extra HTTP headers sent with every request
    include_usage (bool)          ask for usage in the stream, default True; without it (or
                                  when the server sends none) tokens are counted as deltas

Errors from the endpoint propagate as `openai` exceptions; the worker decides on retries.
"""

from __future__ import annotations

import base64
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
    from openai import AsyncOpenAI

_FINISH_REASONS = {"stop": "stop", "length": "length", "content_filter": "error"}


def image_mime_type(image: bytes) -> str:
    """The MIME type of PNG/JPEG/WebP/GIF bytes, from their magic numbers."""
    if image.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if image.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if image[:4] == b"RIFF" and image[8:12] == b"WEBP":
        return "image/webp"
    if image[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    raise ValueError("image is not PNG, JPEG, WebP or GIF")


def image_data_url(image: bytes) -> str:
    """A `data:` URL carrying the image, as the chat-completions API accepts it."""
    return f"data:{image_mime_type(image)};base64,{base64.b64encode(image).decode('ascii')}"


def chat_messages(request: GenerationRequest) -> list[dict[str, Any]]:
    """OpenAI chat messages; the image becomes a content part of the first user turn."""
    messages: list[dict[str, Any]] = []
    image_pending = request.image is not None
    for message in request.messages:
        if image_pending and message.role == "user":
            assert request.image is not None
            content: Any = [
                {"type": "image_url", "image_url": {"url": image_data_url(request.image)}},
                {"type": "text", "text": message.text},
            ]
            image_pending = False
        else:
            content = message.text
        messages.append({"role": message.role, "content": content})
    if image_pending:
        raise ValueError("request has an image but no user message to attach it to")
    return messages


class OpenAIEngine:
    """Streams chat completions from an OpenAI-compatible server; one HTTP stream per call."""

    def __init__(self, config: EngineConfig) -> None:
        options = config.options
        if not options.get("base_url"):
            raise ValueError(f"engine {config.name!r}: option 'base_url' is required")
        self.config = config
        self.base_url: str = str(options["base_url"])
        self.model: str = str(options.get("model") or config.name)
        self.api_key: str = str(options.get("api_key") or "EMPTY")
        self.timeout: float = float(options.get("timeout", 120.0))
        self.max_retries: int = int(options.get("max_retries", 2))
        self.headers: dict[str, str] = {
            str(k): str(v) for k, v in (options.get("headers") or {}).items()
        }
        self.include_usage: bool = bool(options.get("include_usage", True))
        self._client: AsyncOpenAI | None = None

    async def start(self) -> None:
        from openai import AsyncOpenAI

        if self._client is None:
            self._client = AsyncOpenAI(
                base_url=self.base_url,
                api_key=self.api_key,
                timeout=self.timeout,
                max_retries=self.max_retries,
                default_headers=self.headers or None,
            )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def generate(self, request: GenerationRequest) -> AsyncIterator[EngineEvent]:
        if self._client is None:
            raise RuntimeError("OpenAIEngine.generate called before start()")
        params: dict[str, Any] = {
            "model": self.model,
            "messages": chat_messages(request),
            "max_tokens": request.max_new_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "stream": True,
        }
        if request.seed is not None:
            params["seed"] = request.seed
        if self.include_usage:
            params["stream_options"] = {"include_usage": True}
        extra_headers = {"X-Request-Id": request.request_id} if request.request_id else None

        stream = await self._client.chat.completions.create(**params, extra_headers=extra_headers)
        deltas = 0
        finish_reason = "stop"
        usage = None
        async with stream:
            async for chunk in stream:
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    if choice.delta is not None and choice.delta.content:
                        deltas += 1
                        yield TextDelta(choice.delta.content)
                    if choice.finish_reason:
                        finish_reason = _FINISH_REASONS.get(choice.finish_reason, "stop")
        if usage is not None:
            yield Finished(usage.prompt_tokens, usage.completion_tokens, finish_reason)
        else:
            yield Finished(0, deltas, finish_reason)
