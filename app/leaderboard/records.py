"""Voted battles as plain, immutable records: everything cleaning, ranking and export need,
read once from the database so the rest of the pipeline is pure and testable.

``VotedBattle`` keeps the full conversation (the dataset export needs it); the ranking
engine's own ``app.ranking.BattleRecord`` is derived from it in ``engine_record``. A battle
read for ranking only (``app.leaderboard.load.load_ranking_records``) has no turns but its
``RankingFacts``: what cleaning and ranking read from the texts, computed once per battle
while reading, so a million battles' texts never stay in memory at once.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from app.ranking.style import StyleCounts


@dataclass(frozen=True, slots=True)  # slots: a million of them in a leaderboard run
class TurnRecord:
    """One user message and both answers. ``status_*`` is the generation status."""

    prompt: str
    answer_a: str
    answer_b: str
    status_a: str
    status_b: str
    tokens_a: int | None
    tokens_b: int | None
    # "question", or "refinement": `prompt` is feedback on the answers of turn `refines`.
    kind: str = "question"
    refines: int | None = None
    # The visitor's 1-10 rating of each answer, if given (app/arena/ratings.py).
    rating_a: int | None = None
    rating_b: int | None = None
    # The answers' style counts as stored when they were saved (app/leaderboard/
    # style_store.py), None: count the text. A cache of the text's counts, not compared.
    style_a: StyleCounts | None = field(default=None, compare=False)
    style_b: StyleCounts | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class RankingFacts:
    """What the cleaning rules and the style board read from a battle's texts, computed by
    the same functions as from full turns (``app.leaderboard.cleaning.ranking_facts``).
    ``identity_words`` are the (lower-cased) words ``disclosed`` was checked against, so a
    cleaning run with other identity words can refuse instead of silently differing."""

    prompt_hash: str
    status_a: str  # the engine's finish status: finished | failed | incomplete
    status_b: str
    turns: int
    identity_words: tuple[str, ...]
    disclosed: bool
    style_a: StyleCounts
    style_b: StyleCounts


@dataclass(frozen=True, slots=True)  # slots: a million of them in a leaderboard run
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
    # A refinement battle (voted after a refinement turn): its vote carries the
    # "refinement" category and counts on the refinement board only, unless the operator
    # includes such votes in every board (CleaningParams.include_refinement).
    refinement: bool = False
    # Read for ranking only: no turns, what ranking needs of them (see the module's doc).
    facts: RankingFacts | None = None

    @property
    def anonymous(self) -> bool:
        """Counted as anonymous only if the battle was blind and the vote was cast blind."""
        return self.mode == "anonymous" and self.vote_anonymous

    def finish_status(self, side: str) -> str:
        """The engine's finish status of one side: finished | failed | incomplete."""
        if self.facts is not None and not self.turns:
            return self.facts.status_a if side == "a" else self.facts.status_b
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
    retired: bool = False  # retired by an operator: on the board, marked (app/arena/lifecycle)
