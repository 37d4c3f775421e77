"""The contract every engine backend fulfils.

A worker hands an engine one `GenerationRequest` at a time but calls `generate` many times
concurrently, so that backends with continuous batching (vLLM) stay full. Engines yield text
deltas as they appear and end with exactly one `Finished`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    text: str


@dataclass(frozen=True)
class GenerationRequest:
    """One side's turn: the whole conversation so far; the image belongs to the first turn."""

    messages: list[ChatMessage]
    image: bytes | None = None  # normalised PNG/JPEG bytes as stored in the blob store
    max_new_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 1.0
    seed: int | None = None
    request_id: str = ""
    # 0: a visitor is waiting (battles); 1: batch work (judges, bench answers). Engines that
    # queue requests serve lower values first.
    priority: int = 0


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Finished:
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" | "length" | "error"


EngineEvent = TextDelta | Finished


@dataclass
class EngineConfig:
    """What the registry says about how to run one model."""

    name: str
    backend: str
    path: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


class Engine(Protocol):
    async def start(self) -> None: ...

    def generate(self, request: GenerationRequest) -> AsyncIterator[EngineEvent]: ...

    async def close(self) -> None: ...
