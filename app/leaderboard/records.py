"""Voted battles as plain, immutable records: everything cleaning, ranking and export need,
read once from the database so the rest of the pipeline is pure and testable.

``VotedBattle`` keeps the full conversation (the dataset export needs it); the ranking
engine's own ``app.ranking.BattleRecord`` is derived from it in ``engine_input``.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class TurnRecord:
    """One user message and both answers. ``status_*`` is the generation status."""

    prompt: str
    answer_a: str
    answer_b: str
    status_a: str
    status_b: str
    tokens_a: int | None
    tokens_b: int | None


@dataclass(frozen=True)
class VotedBattle:
    battle_id: uuid.UUID
    visitor_id: uuid.UUID
    mode: str
    model_a: str
    model_b: str | None
    winner: str
    vote_anonymous: bool
    voted_at: datetime
    ip_hash: str
    language: str | None
    categories: tuple[str, ...]
    review_status: str
    image_sha256: str | None
    removed: bool
    visitor_banned: bool
    vote_excluded: bool
    turns: tuple[TurnRecord, ...]
    # Given after the vote (app/arena/reasons.py); empty when none were.
    reason_tags_a: tuple[str, ...] = ()
    reason_tags_b: tuple[str, ...] = ()
    reason_comment: str | None = None
    has_reasons: bool = False
    # Started from a preset (app/arena/presets.py): out of the ranking by default.
    is_preset: bool = False
    preset: str | None = None
    # Deleted by its owner (a tombstone, app/arena/deletion.py): never released, and out
    # of the ranking unless the operator includes deleted battles.
    deleted: bool = False

    @property
    def anonymous(self) -> bool:
        """Counted as anonymous only if the battle was blind and the vote was cast blind."""
        return self.mode == "anonymous" and self.vote_anonymous

    def finish_status(self, side: str) -> str:
        """The engine's finish status of one side: finished | failed | incomplete."""
        statuses = [t.status_a if side == "a" else t.status_b for t in self.turns]
        if self.model_b is None or not statuses:
            return "incomplete"
        if "failed" in statuses:
            return "failed"
        return "finished" if all(s == "done" for s in statuses) else "incomplete"

    @property
    def first_prompt(self) -> str:
        return self.turns[0].prompt if self.turns else ""

    @property
    def judge(self) -> str:
        """A stable pseudonym for the voter; the visitor id itself never leaves the DB."""
        digest = hashlib.sha256(f"arena-judge:{self.visitor_id}".encode()).hexdigest()
        return f"arena_user_{digest[:16]}"


@dataclass(frozen=True)
class ModelInfo:
    """What cleaning needs to know about a model."""

    name: str
    identity_words: tuple[str, ...]
    ranked: bool  # False: models.yaml options {ranked: false} keeps it off leaderboards
