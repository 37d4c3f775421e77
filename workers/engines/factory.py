"""Pick the engine backend named in the registry; imports are lazy so a worker only needs
the packages of its own backend."""

from __future__ import annotations

from workers.engines.base import Engine, EngineConfig


def make_engine(config: EngineConfig) -> Engine:
    if config.backend == "transformers":
        from workers.engines.transformers_engine import TransformersEngine

        return TransformersEngine(config)
    if config.backend == "vllm":
        from workers.engines.vllm_engine import VLLMEngine

        return VLLMEngine(config)
    if config.backend == "openai":
        from workers.engines.openai_engine import OpenAIEngine

        return OpenAIEngine(config)
    raise ValueError(f"unknown engine backend {config.backend!r}")
