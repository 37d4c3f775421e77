"""The model registry: read from models.yaml and synced into the `models` table at start."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ModelEntry

BACKENDS = ("transformers", "vllm", "openai")


class ModelSpec(BaseModel):
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:/-]+$")
    backend: str
    path: str | None = None
    weight: float = Field(default=1.0, ge=0)
    enabled: bool = True
    max_new_tokens: int = Field(default=256, ge=1, le=32_768)
    concurrency: int = Field(default=16, ge=1, le=1024)
    sampling: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    # Words that, in an answer, reveal this model's identity (used by the ranking cleaner).
    identity_words: list[str] = Field(default_factory=list)
    ranked: bool = True  # False keeps the model out of every leaderboard
    # "answer": drawn for battles; "judge": served by workers for judge runs only (never in
    # a battle, never on a leaderboard).
    role: Literal["answer", "judge"] = "answer"
    # Who makes the model (e.g. "Qwen", "OpenAI"): the data-share report groups by it.
    provider: str | None = Field(default=None, max_length=128)

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, v: str) -> str:
        if v not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}")
        return v


class RegistryError(ValueError):
    pass


def load_registry(path: Path) -> list[ModelSpec]:
    """Parse the registry file; relative model paths are relative to the file."""
    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RegistryError(f"cannot read model registry {path}: {exc}") from exc
    try:
        specs = [ModelSpec(**m) for m in doc.get("models", [])]
    except (TypeError, ValidationError) as exc:
        raise RegistryError(f"invalid model registry {path}: {exc}") from exc
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise RegistryError(f"duplicate model names in {path}")
    base = Path(path).resolve().parent
    for spec in specs:
        if spec.path and spec.backend != "openai" and not Path(spec.path).is_absolute():
            spec.path = str(base / spec.path)
    return specs


async def sync_registry(session: AsyncSession, specs: list[ModelSpec]) -> None:
    """Insert new models and update changed ones; models no longer listed are disabled.

    An operator may change a model's weight and enabled flag in the admin pages; those
    changes survive restarts: the file's value is applied only when the file itself
    changed it since the last sync.
    """
    existing = {m.name: m for m in (await session.scalars(select(ModelEntry))).all()}
    for spec in specs:
        row = existing.pop(spec.name, None)
        synced = (row.registry_state or {}) if row is not None else {}
        if row is None:
            row = ModelEntry(name=spec.name, weight=spec.weight, enabled=spec.enabled)
        if synced.get("weight") != spec.weight:
            row.weight = spec.weight
        if synced.get("enabled") != spec.enabled:
            row.enabled = spec.enabled
        row.backend = spec.backend
        row.path = spec.path
        row.options = spec.options
        row.identity_words = spec.identity_words
        row.ranked = spec.ranked and spec.role == "answer"
        row.role = spec.role
        row.provider = spec.provider
        row.registry_state = {"weight": spec.weight, "enabled": spec.enabled}
        row.sampling = spec.sampling
        row.max_new_tokens = spec.max_new_tokens
        row.concurrency = spec.concurrency
        session.add(row)
    for row in existing.values():
        row.enabled = False
        row.registry_state = {"weight": row.weight, "enabled": False}
    await session.commit()
