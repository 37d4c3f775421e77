"""Simulated arena traffic for release tests and the release benchmark: conversations of
every mode with images in a real blob store, inserted in bulk (Core statements, so 100k
conversations take seconds, not minutes)."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import insert
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Battle, Consent, Generation, ImageBlob, ModelEntry, Turn, Visitor, Vote
from app.storage.blobs import LocalBlobStore

DAY = datetime(2026, 11, 20, tzinfo=UTC)
TERMS = "2026-11-01"
MODELS = {"alpha-vl": ["AlphaCorp"], "beta-vl": ["Betatron"], "gamma-vl": [], "delta-vl": []}


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, format="PNG", optimize=False)
    return out.getvalue()


def shapes_image(k: int) -> bytes:
    im = Image.new("RGB", (96, 96), ((k * 47) % 256, (k * 91) % 256, (k * 13) % 256))
    ImageDraw.Draw(im).ellipse((20 + k % 20, 20, 70, 70), fill=(255 - (k * 7) % 256, 40, 90))
    return png(im)


def face_image() -> bytes:
    """A real photograph of a face that ships with matplotlib (Grace Hopper)."""
    from matplotlib import cbook

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
        return png(im)


def printed_email_image(address: str = "jane.doe@example.com") -> bytes:
    im = Image.new("RGB", (520, 140), "white")
    ImageDraw.Draw(im).text((16, 50), f"Contact: {address}", fill="black",
                            font=ImageFont.load_default(size=30))
    return png(im)


@dataclass
class Conv:
    """One conversation; the defaults make a clean, consented, voted anonymous battle."""

    prompt: str
    answer_a: str = "A red circle on a blue background."
    answer_b: str = "I see a circle."
    model_a: str = "gamma-vl"
    model_b: str | None = "delta-vl"
    mode: str = "anonymous"
    image: bytes | None = None
    visitor: int = 0
    winner: str | None = "model_a"
    vote_anonymous: bool = True
    status_b: str = "done"
    removed: bool = False
    excluded: bool = False
    preset: str | None = None
    at: datetime = DAY
    battle_id: uuid.UUID = field(default_factory=uuid.uuid4)
    extra_turns: list[tuple[str, str, str]] = field(default_factory=list)


async def add_registry(session: AsyncSession) -> None:
    session.add_all(ModelEntry(name=n, backend="openai", identity_words=w)
                    for n, w in MODELS.items())
    await session.commit()


async def add_visitors(session: AsyncSession, consented: int, unconsented: int = 0,
                       ) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(consented + unconsented)]
    await session.execute(insert(Visitor), [{"id": v, "ip_hash": "x" * 64, "banned": False,
                                             "created_at": DAY - timedelta(days=1)}
                                            for v in ids])
    await session.execute(insert(Consent), [
        {"id": uuid.uuid4(), "visitor_id": v, "terms_version": TERMS, "ip_hash": "x" * 64,
         "accepted_at": DAY - timedelta(days=1)} for v in ids[:consented]])
    await session.commit()
    return ids


async def store_images(session: AsyncSession, store: LocalBlobStore,
                       images: list[bytes]) -> None:
    seen: set[str] = set()
    rows = []
    for data in images:
        key = await store.put(data)
        if key in seen:
            continue
        seen.add(key)
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
        rows.append({"sha256": key, "phash": "0" * 16, "width": w, "height": h,
                     "bytes": len(data), "mime": "image/png", "created_at": DAY})
    if rows:
        await session.execute(insert(ImageBlob), rows)
        await session.commit()


def sha(data: bytes | None) -> str | None:
    import hashlib

    return hashlib.sha256(data).hexdigest() if data is not None else None


async def insert_conversations(session: AsyncSession, visitors: list[uuid.UUID],
                               convs: list[Conv], *, chunk: int = 2000) -> None:
    """Battles, turns, answers and votes in bulk. Some conversations break the vote rules
    on purpose (a vote on a failed side), as old data might: triggers are off for this
    transaction (PostgreSQL's replica role)."""
    for k in range(0, len(convs), chunk):
        part = convs[k:k + chunk]
        if session.bind.dialect.name == "postgresql":
            await session.execute(sql("SET LOCAL session_replication_role = replica"))
        battles, turns, gens, votes = [], [], [], []
        for c in part:
            created = c.at
            battles.append({
                "id": c.battle_id, "visitor_id": visitors[c.visitor], "mode": c.mode,
                "model_a": c.model_a, "model_b": c.model_b, "image_sha256": sha(c.image),
                "created_at": created, "ip_hash": "x" * 64, "moderation": {},
                "review_status": "removed" if c.removed else "none", "removed": c.removed,
                "language": "en", "categories": ["captioning"], "version": 0,
                "is_preset": c.preset is not None, "preset": c.preset})
            for index, (prompt, a, b) in enumerate([(c.prompt, c.answer_a, c.answer_b),
                                                    *c.extra_turns]):
                turn_id = uuid.uuid4()
                turns.append({"id": turn_id, "battle_id": c.battle_id, "index": index,
                              "prompt": prompt, "created_at": created})
                sides = [("a", c.model_a, a, "done")]
                if c.model_b is not None:
                    sides.append(("b", c.model_b, b, c.status_b))
                for side, model, text, status in sides:
                    gens.append({"id": uuid.uuid4(), "turn_id": turn_id, "side": side,
                                 "model": model, "params": {}, "status": status,
                                 "text": text if status == "done" else "",
                                 "completion_tokens": len(text.split()), "attempts": 1,
                                 "attempts_base": 0, "error": None if status == "done"
                                 else "engine error", "created_at": created,
                                 "status_at": created})
            if c.winner is not None:
                votes.append({"battle_id": c.battle_id, "visitor_id": visitors[c.visitor],
                              "winner": c.winner, "anonymous": c.vote_anonymous,
                              "ip_hash": "x" * 64, "created_at": created + timedelta(minutes=1),
                              "excluded": c.excluded})
        for table, rows in ((Battle, battles), (Turn, turns), (Generation, gens),
                            (Vote, votes)):
            if rows:
                await session.execute(insert(table), rows)
        await session.commit()


_ADJ = ("red", "blue", "green", "small", "large", "round", "square", "bright", "dark", "pale",
        "striped", "dotted", "tall", "flat", "shiny", "old", "new", "wooden", "metal", "soft",
        "empty", "full", "narrow", "wide", "curved", "broken", "tiny", "huge", "plain", "odd")
_NOUN = ("circle", "square", "triangle", "star", "cup", "chair", "tree", "car", "lamp", "book",
         "door", "window", "bottle", "flower", "bird", "boat", "kite", "clock", "shoe", "bag",
         "plate", "hat", "ball", "box", "key", "bell", "leaf", "stone", "shell", "ring")
_PLACE = ("table", "wall", "floor", "road", "river", "field", "shelf", "roof", "beach",
          "garden", "desk", "bridge", "hill", "market", "park", "kitchen", "street corner",
          "forest", "lake", "station", "window sill", "fence", "bench", "tower", "harbour",
          "square", "yard", "porch", "stage", "cliff")
_ASK = ("What is the", "Where is the", "Why is the", "Describe the", "How big is the",
        "What colour is the", "Count the", "Is there a")


def prompt_text(k: int) -> str:
    """The k-th of 216,000 distinct, digit-free questions (real prompts rarely carry
    numbers; Presidio only runs on texts with a digit or an @)."""
    a, k = _ADJ[k % 30], k // 30
    n, k = _NOUN[k % 30], k // 30
    p, k = _PLACE[k % 30], k // 30
    return f"{_ASK[k % 8]} {a} {n} near the {p}?"


def bulk_traffic(n: int, *, n_images: int = 8, start: datetime = DAY,
                 visitors: int = 20) -> tuple[list[Conv], list[bytes]]:
    """``n`` clean conversations (80% anonymous battles, 10% side-by-side, 10% direct),
    distinct prompts, a few shared images."""
    images = [shapes_image(k) for k in range(n_images)]
    names = sorted(MODELS)
    out = []
    for k in range(n):
        mode = "direct" if k % 10 == 0 else "side_by_side" if k % 10 == 1 else "anonymous"
        a, b = names[k % 4], names[(k + 1 + k // 4) % 4]
        if b == a:
            b = names[(k + 2) % 4]
        out.append(Conv(
            prompt=prompt_text(k),
            answer_a=f"There is a {_ADJ[k % 30]} {_NOUN[k % 29]} in the picture.",
            answer_b=f"I can see a {_NOUN[k % 23]} on a plain background.",
            model_a=a, model_b=None if mode == "direct" else b, mode=mode,
            image=images[k % n_images], visitor=k % visitors,
            winner=None if mode == "direct" else "model_a",
            vote_anonymous=mode == "anonymous",
            at=start + timedelta(seconds=k)))
    return out, images


def write_blob_dir(path: Path) -> LocalBlobStore:
    path.mkdir(parents=True, exist_ok=True)
    return LocalBlobStore(path)
