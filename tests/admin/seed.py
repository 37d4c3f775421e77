"""Rows for admin tests: staff users, battles with images, answers, moderation and votes."""

from __future__ import annotations

import io
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from PIL import Image
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.admin.accounts import create_user
from app.db.models import Battle, Generation, ImageBlob, ModelEntry, Turn, Visitor, Vote, utcnow
from app.storage.blobs import LocalBlobStore

FLAGGED = {
    "decision": "review", "reasons": ["nsfw"], "blocked_by": [],
    "scores": {"nsfw": 0.61}, "language": None, "pii_kinds": [], "pii_spans": [],
    "elapsed_ms": 8.0,
}


def png(color: tuple[int, int, int] = (220, 120, 90)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buf, format="PNG")
    return buf.getvalue()


async def add_user(sm: async_sessionmaker, role: str, password: str | None = None,
                   username: str | None = None) -> tuple[str, str]:
    name = username or f"{role}-{secrets.token_hex(4)}@example.org"
    password = password or secrets.token_urlsafe(16)
    async with sm() as session:
        await create_user(session, name, password, role)
        await session.commit()
    return name, password


async def add_model(sm: async_sessionmaker, name: str) -> None:
    async with sm() as session:
        if await session.get(ModelEntry, name) is None:
            session.add(ModelEntry(name=name, backend="openai", enabled=True))
            await session.commit()


async def add_visitor(sm: async_sessionmaker, ip_hash: str | None = None) -> uuid.UUID:
    async with sm() as session:
        v = Visitor(ip_hash=ip_hash or secrets.token_hex(32))
        session.add(v)
        await session.commit()
        return v.id


async def add_battle(
    sm: async_sessionmaker,
    blobs: LocalBlobStore | None,
    *,
    models: tuple[str, str],
    prompt: str = "What is in the image?",
    answers: tuple[str, str] = ("A red square.", "A square."),
    review_status: str = "review",
    moderation: dict[str, Any] | None = None,
    visitor_id: uuid.UUID | None = None,
    created_at: datetime | None = None,
    winner: str | None = None,
    vote_delay_s: float = 60.0,
    ip_hash: str = "ip-default",
    color: tuple[int, int, int] | None = None,
    status_b: str = "done",
) -> str:
    """A two-sided anonymous battle, finished; optionally voted `vote_delay_s` later."""
    created = created_at or utcnow() - timedelta(minutes=10)
    visitor_id = visitor_id or await add_visitor(sm, ip_hash)
    sha = None
    if blobs is not None:
        data = png(color or tuple(secrets.randbelow(256) for _ in range(3)))  # type: ignore[arg-type]
        sha = await blobs.put(data)
    async with sm() as session:
        if sha and await session.get(ImageBlob, sha) is None:
            session.add(ImageBlob(sha256=sha, phash="0" * 16, width=64, height=48,
                                  bytes=len(data), mime="image/png"))
            await session.flush()
        battle = Battle(
            visitor_id=visitor_id, mode="anonymous", model_a=models[0], model_b=models[1],
            image_sha256=sha, created_at=created, ip_hash=ip_hash,
            moderation=FLAGGED if moderation is None else moderation,
            review_status=review_status,
        )
        turn = Turn(index=0, prompt=prompt, created_at=created)
        battle.turns.append(turn)
        finished = created + timedelta(seconds=5)
        for side, model, text in zip("ab", models, answers, strict=True):
            turn.generations.append(Generation(
                side=side, model=model, status="done" if side == "a" else status_b,
                text=text, created_at=created, finished_at=finished,
            ))
        session.add(battle)
        if winner:
            await session.flush()  # the answers exist before the vote, as in the arena
            session.add(Vote(battle=battle, visitor_id=visitor_id, winner=winner,
                             anonymous=True, ip_hash=ip_hash,
                             created_at=finished + timedelta(seconds=vote_delay_s)))
        await session.commit()
        return str(battle.id)
