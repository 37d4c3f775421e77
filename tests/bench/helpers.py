"""Shared pieces of the bench tests: battles written straight into the database, with
their images in the blob store, and a cheap deterministic text embedder for the tests
that are about curation rather than about MiniLM."""

from __future__ import annotations

import hashlib
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Battle, ImageBlob, ModelEntry, Turn, Visitor
from app.storage.blobs import LocalBlobStore

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def png(colour: tuple[int, int, int], size: int = 32) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, format="PNG")
    return buf.getvalue()


class HashTextEmbedder:
    """Bag of words hashed into 32 dimensions: deterministic and instant."""

    info: dict[str, Any] = {"name": "hashed-words", "dim": 32}

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 32))
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, int(hashlib.sha256(w.encode()).hexdigest(), 16) % 32] += 1.0
        return out


async def ensure_model(session: AsyncSession, name: str = "bench-m") -> str:
    if await session.get(ModelEntry, name) is None:
        session.add(ModelEntry(name=name, backend="transformers", path="/nowhere"))
        await session.commit()
    return name


async def add_battle(session: AsyncSession, blobs: LocalBlobStore, *, prompt: str,
                     image: bytes | None, turns: int = 1, language: str | None = "en",
                     review_status: str = "none", removed: bool = False, minute: int = 0,
                     model: str = "bench-m") -> uuid.UUID:
    sha = None
    if image is not None:
        sha = await blobs.put(image)
        if await session.get(ImageBlob, sha) is None:
            session.add(ImageBlob(sha256=sha, phash="0" * 16, width=32, height=32,
                                  bytes=len(image), mime="image/png"))
    visitor = Visitor(ip_hash="b" * 64)
    session.add(visitor)
    await session.flush()
    battle = Battle(visitor_id=visitor.id, mode="anonymous", model_a=model, model_b=model,
                    image_sha256=sha, ip_hash="b" * 64, language=language,
                    review_status=review_status, removed=removed,
                    created_at=T0 + timedelta(minutes=minute))
    session.add(battle)
    await session.flush()
    for i in range(turns):
        session.add(Turn(battle_id=battle.id, index=i, prompt=prompt if i == 0 else "more?"))
    await session.commit()
    return battle.id
