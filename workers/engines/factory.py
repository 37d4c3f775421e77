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
        from app.config import secret_from_env
        from workers.engines.openai_engine import OpenAIEngine

        options = dict(config.options)
        key_name = options.pop("api_key_env", None)
        if key_name:
            key = secret_from_env(str(key_name))
            if not key:
                raise ValueError(f"model {config.name!r}: environment variable {key_name} is empty")
            options["api_key"] = key
        return OpenAIEngine(EngineConfig(config.name, config.backend, config.path, options))
    raise ValueError(f"unknown engine backend {config.backend!r}")
