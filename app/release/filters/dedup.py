"""High-frequency prompts down-sampled to the 99.99th-percentile count, FastChat's way
(``fastchat/serve/monitor/deduplication.py``): the cutoff is that quantile of the counts
per distinct prompt; a prompt seen more often keeps ``int(cutoff)`` conversations, a seeded
choice, and its kept rows are tagged ``dedup_tag = {high_freq: true, sampled: true}``.

A prompt is the image and the user turns, case and spacing folded (the leaderboard's
``prompt_hash``): the same question about different images is not a duplicate. The plan is
made in a first pass over the conversations that passed the cheap filters.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.leaderboard.cleaning import prompt_hash
from app.release.cache import CacheView
from app.release.filters.base import Filter, FilterReport
from app.release.source import Conversation


def conversation_prompt(conv: Conversation) -> str:
    return prompt_hash(conv)  # type: ignore[arg-type]  # needs .turns and .image_sha256


@dataclass
class DedupCounter:
    """Pass one: the conversations of each prompt (16-byte keys, ids as bytes)."""

    groups: dict[bytes, list[bytes]] = field(default_factory=lambda: defaultdict(list))

    def add(self, conv: Conversation) -> None:
        self.groups[bytes.fromhex(conversation_prompt(conv))[:16]].append(conv.battle_id.bytes)


@dataclass(frozen=True)
class DedupPlan:
    quantile: float
    seed: int
    cutoff: float
    high_freq: frozenset[bytes]
    drop: frozenset[uuid.UUID]


def plan_dedup(counter: DedupCounter, *, quantile: float = 0.9999, seed: int = 42) -> DedupPlan:
    if not 0 < quantile <= 1:
        raise ValueError("the dedup quantile is in (0, 1]")
    counts = np.array([len(v) for v in counter.groups.values()], dtype=np.float64)
    cutoff = float(np.quantile(counts, quantile)) if counts.size else 0.0
    keep_n = max(1, int(cutoff))
    high, drop = set(), set()
    for key in sorted(counter.groups):
        members = counter.groups[key]
        if len(members) > cutoff:
            high.add(key)
            ranked = sorted(members, key=lambda m: hashlib.sha256(
                seed.to_bytes(8, "big") + m).digest())
            drop.update(uuid.UUID(bytes=m) for m in ranked[keep_n:])
    return DedupPlan(quantile, seed, cutoff, frozenset(high), frozenset(drop))


class DedupFilter(Filter):
    name = "dedup"
    version = 1
    description = ("high-frequency prompt (more often than the 99.99th-percentile count), "
                   "down-sampled to that count")

    def __init__(self, plan: DedupPlan) -> None:
        self.plan = plan

    def params(self) -> dict[str, Any]:
        return {"quantile": self.plan.quantile, "seed": self.plan.seed,
                "cutoff_count": round(self.plan.cutoff, 6),
                "high_frequency_prompts": len(self.plan.high_freq),
                "prompt": "image sha256 + user turns, case and spacing folded"}

    def apply(self, conv: Conversation, cache: CacheView,
              report: FilterReport) -> Conversation | None:
        if conv.battle_id in self.plan.drop:
            return None
        key = bytes.fromhex(conversation_prompt(conv))[:16]
        if key in self.plan.high_freq:
            return dataclasses.replace(conv, dedup_high_freq=True)
        return conv
