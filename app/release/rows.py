"""The two configurations' schemas and rows.

- **chat** (VisionArena-Chat): one row per model conversation: a direct chat, each side of
  a side-by-side comparison, each side of a battle. ``conversation`` is a list of turns,
  each ``[user message, assistant message]`` (so ``conversation[0][0]["content"]`` is the
  first prompt, as vLLM's ``VisionArenaDataset`` reads it).
- **battle** (VisionArena-Battle): the nightly export's battle columns
  (``app.leaderboard.dataset``), plus the images, ``dedup_tag`` and ``moderation``.

Images are the Hugging Face ``Image`` feature: ``{"bytes", "path"}``; path is the blob's
sha256 with its format's extension.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pyarrow as pa

from app.leaderboard.dataset import SCHEMA as BATTLE_BASE
from app.leaderboard.dataset import dataset_row
from app.release.features import IMAGE_STRUCT
from app.release.source import Conversation

_I = pa.int64()
_MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
DEDUP_TAG = pa.struct([("high_freq", pa.bool_()), ("sampled", pa.bool_())])
MODERATION = pa.struct([("flagged", pa.bool_()), ("reasons", pa.list_(pa.string()))])
IMAGES = pa.list_(IMAGE_STRUCT)
IMAGE_COLUMNS = ("images",)

CHAT_SCHEMA = pa.schema([
    ("images", IMAGES),
    ("conversation_id", pa.string()),
    ("model", pa.string()),
    ("num_turns", _I),
    ("conversation", pa.list_(pa.list_(_MESSAGE))),
    ("language", pa.string()),
    ("user_id", pa.string()),
    ("tstamp", pa.float64()),
    ("is_preset", pa.bool_()),
    ("preset_dataset", pa.string()),
    ("categories", pa.list_(pa.string())),
    ("mode", pa.string()),  # anonymous | side_by_side | direct
    ("image_sha256", pa.string()),
    ("moderation", MODERATION),
    ("dedup_tag", DEDUP_TAG),
    ("conv_metadata", pa.struct([("sum_assistant_tokens", _I), ("turns", _I)])),
])

BATTLE_SCHEMA = pa.schema([
    pa.field("images", IMAGES), *BATTLE_BASE,
    pa.field("dedup_tag", DEDUP_TAG), pa.field("moderation", MODERATION),
])


def image_path(sha256: str, data: bytes, *, blurred: bool = False) -> str:
    ext = ("png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "jpg" if data[:3] == b"\xff\xd8\xff"
           else "webp" if data[8:12] == b"WEBP" else "gif" if data[:4] == b"GIF8" else "bin")
    return f"{sha256}{'-blurred' if blurred else ''}.{ext}"


def user_id(conv: Conversation) -> str:
    """The visitor's pseudonym: the Battle config's ``judge`` (same visitor, same id)."""
    digest = hashlib.sha256(f"arena-judge:{conv.visitor_id}".encode()).hexdigest()
    return f"arena_user_{digest[:16]}"


def _moderation(conv: Conversation) -> dict[str, Any]:
    reasons = sorted({str(r) for v in conv.moderation.values() if isinstance(v, dict)
                      for r in v.get("reasons", ())})
    return {"flagged": conv.review_status in ("review", "approved") or bool(reasons),
            "reasons": reasons}


def _images(conv: Conversation, image: bytes | None) -> list[dict[str, Any]]:
    if conv.image_sha256 is None or image is None:
        return []
    blurred = conv.image_bytes is not None
    return [{"bytes": conv.image_bytes if blurred else image,
             "path": image_path(conv.image_sha256, image, blurred=blurred)}]


def chat_rows(conv: Conversation, image: bytes | None) -> list[dict[str, Any]]:
    common = {
        "images": _images(conv, image), "num_turns": len(conv.turns),
        "language": conv.language or "unknown", "user_id": user_id(conv),
        "tstamp": conv.created_at.timestamp(), "is_preset": conv.is_preset,
        "preset_dataset": conv.preset, "categories": list(conv.categories),
        "mode": conv.mode, "image_sha256": conv.image_sha256,
        "moderation": _moderation(conv),
        "dedup_tag": {"high_freq": conv.dedup_high_freq, "sampled": True},
    }
    out = []
    for side in conv.sides:
        answers = [(t.answer_a, t.tokens_a) if side == "a" else (t.answer_b, t.tokens_b)
                   for t in conv.turns]
        out.append({
            **common,
            "conversation_id": conv.battle_id.hex if conv.model_b is None
            else f"{conv.battle_id.hex}-{side}",
            "model": conv.model(side),
            "conversation": [[{"role": "user", "content": t.prompt},
                              {"role": "assistant", "content": a}]
                             for t, (a, _) in zip(conv.turns, answers, strict=True)],
            "conv_metadata": {"sum_assistant_tokens": sum(n or 0 for _, n in answers),
                              "turns": len(conv.turns)},
        })
    return out


def battle_row(conv: Conversation, image: bytes | None) -> dict[str, Any]:
    return {**dataset_row(conv.voted_battle()), "images": _images(conv, image),
            "dedup_tag": {"high_freq": conv.dedup_high_freq, "sampled": True},
            "moderation": _moderation(conv)}
