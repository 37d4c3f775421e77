"""The arena's tables. Schema changes go through Alembic (migrations/)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
SIDES = ("a", "b")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class Visitor(Base):
    """A browser, identified by a signed session cookie; the IP only as a salted hash."""

    __tablename__ = "visitors"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ip_hash: Mapped[str] = mapped_column(String(64), index=True)
    banned: Mapped[bool] = mapped_column(Boolean, default=False)


class BannedIp(Base):
    """A network (salted IP hash) barred from the public site; unbanning deletes the row."""

    __tablename__ = "banned_ips"

    ip_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    banned_at: Mapped[datetime] = mapped_column(default=utcnow)
    banned_by: Mapped[str] = mapped_column(String(128))


class Consent(Base):
    """Acceptance of the terms of use (conversations may be released for research)."""

    __tablename__ = "consents"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    visitor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visitors.id"), index=True)
    terms_version: Mapped[str] = mapped_column(String(32))
    accepted_at: Mapped[datetime] = mapped_column(default=utcnow)
    ip_hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("visitor_id", "terms_version"),)


class ModelEntry(Base):
    """The registry as synced from models.yaml; the admin may change weight/enabled later."""

    __tablename__ = "models"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    backend: Mapped[str] = mapped_column(String(32))
    path: Mapped[str | None] = mapped_column(Text, nullable=True)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sampling: Mapped[dict[str, Any]] = mapped_column(default=dict)
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    max_new_tokens: Mapped[int] = mapped_column(Integer, default=256)
    concurrency: Mapped[int] = mapped_column(Integer, default=16)
    outage: Mapped[bool] = mapped_column(Boolean, default=False)  # operator-marked outage
    # Words that reveal the model's identity in an answer (the ranking drops such battles).
    identity_words: Mapped[list[str]] = mapped_column(JSON, default=list)
    ranked: Mapped[bool] = mapped_column(Boolean, default=True)  # False: never on leaderboards
    role: Mapped[str] = mapped_column(String(16), default="answer", server_default="answer")
    # Lifecycle (app/arena/lifecycle.py): retired by an operator (on the board, marked, never
    # drawn); votes counted at the latest leaderboard run (listing threshold, new-model boost).
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ranked_votes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    provider: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # The registry file's values at the last sync, so that admin changes survive restarts.
    registry_state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ImageBlob(Base):
    """A normalised image; the sha256 of its re-encoded bytes is its key in the blob store."""

    __tablename__ = "images"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    phash: Mapped[str] = mapped_column(String(32), index=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(Integer)
    mime: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Battle(Base):
    """A conversation with one or two models. mode: anonymous | side_by_side | direct."""

    __tablename__ = "battles"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    visitor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visitors.id"), index=True)
    mode: Mapped[str] = mapped_column(String(16))
    model_a: Mapped[str] = mapped_column(ForeignKey("models.name"))
    model_b: Mapped[str | None] = mapped_column(ForeignKey("models.name"), nullable=True)
    image_sha256: Mapped[str | None] = mapped_column(
        ForeignKey("images.sha256"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    ip_hash: Mapped[str] = mapped_column(String(64))
    moderation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # none | review (flagged by the gate, waiting) | approved | removed (by a moderator)
    review_status: Mapped[str] = mapped_column(String(16), default="none", index=True)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Bumped by every state transition (follow-up, vote) in one conditional UPDATE, so two
    # transitions that saw the same state can not both happen (app/arena/transitions.py).
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Started from a preset (e.g. "random-image": an image and question the arena drew),
    # not the visitor's own input: kept out of the ranking by default, marked in exports.
    is_preset: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    preset: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The models a first-turn re-draw replaced (app/arena/redraw.py): a list of
    # {side, model, attempts, error, at}. Never shown before the vote, never on the vote.
    redraws: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    # The tombstone of a battle its owner deleted (app/arena/deletion.py): the rows stay,
    # the battle leaves the owner's list, releases and (by default) the leaderboard.
    # `deleted_vote` says what vote it had then, so an acknowledged vote is never lost.
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    deleted_vote: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # A refinement battle (anonymous only): the vote is asked after the visitor's feedback
    # was answered (app/arena/rules.py; the vote trigger of migration 0014), and its vote
    # counts in the leaderboard's "refinement" category, not the default board.
    refinement: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    turns: Mapped[list[Turn]] = relationship(
        back_populates="battle", order_by="Turn.index", cascade="all, delete-orphan"
    )
    vote: Mapped[Vote | None] = relationship(back_populates="battle", uselist=False)

    __table_args__ = (
        CheckConstraint("mode in ('anonymous', 'side_by_side', 'direct')", name="mode"),
        CheckConstraint("NOT refinement OR mode = 'anonymous'", name="refinement"),
    )


class Turn(Base):
    """One user message in a battle; each side answers it with one Generation.

    kind "question" asks something; kind "refinement" is the visitor's feedback on the
    answers of turn `refines_index` (its `prompt` is the feedback, as both models get it:
    app/arena/refinement.py)."""

    __tablename__ = "turns"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    battle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("battles.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    prompt: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(16), default="question", server_default="question")
    refines_index: Mapped[int | None] = mapped_column(Integer, nullable=True)

    battle: Mapped[Battle] = relationship(back_populates="turns")
    generations: Mapped[list[Generation]] = relationship(
        back_populates="turn", order_by="Generation.side", cascade="all, delete-orphan"
    )

    __table_args__ = (
        UniqueConstraint("battle_id", "index"),
        CheckConstraint("kind in ('question', 'refinement')", name="kind"),
        CheckConstraint(
            "(kind = 'question' AND refines_index IS NULL) OR (kind = 'refinement' AND "
            "refines_index IS NOT NULL AND refines_index < \"index\")",
            name="refines",
        ),
    )


class Generation(Base):
    """One model's answer to one turn. The worker, not the browser, writes the result."""

    __tablename__ = "generations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    turn_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"))
    side: Mapped[str] = mapped_column(String(1))
    model: Mapped[str] = mapped_column(ForeignKey("models.name"), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    text: Mapped[str] = mapped_column(Text, default="")
    prompt_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    completion_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ttft_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    finish_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # `attempts` when the side was last re-drawn: the current model's tries are
    # attempts - attempts_base (the fencing token itself only ever grows).
    attempts_base: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    worker_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # When the status last changed: the sweeper's clock for work that nobody holds.
    status_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # The visitor's 1-10 rating of this answer (optional, once: app/arena/ratings.py).
    # A refinement turn's answers are "after"; those of the turn it refines, "before".
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The answer's style counts, stored when it is saved ({"version", "counts"}: see
    # app/leaderboard/style_store.py); null before 0019 or until done: counted on read.
    style: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Which identity words of the battle's models the answer contains ({"checked",
    # "found"}: app/leaderboard/mentions_store.py), stored when it is saved, so the ranking
    # reader need not read the text; null before 0021 or until done: the text is read.
    mentions: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    turn: Mapped[Turn] = relationship(back_populates="generations")
    attempt_log: Mapped[list[GenerationAttempt]] = relationship(
        back_populates="generation", order_by="GenerationAttempt.attempt",
        cascade="all, delete-orphan",
    )

    __table_args__ = (
        UniqueConstraint("turn_id", "side"),
        CheckConstraint("side in ('a', 'b')", name="side"),
        CheckConstraint("status in ('queued', 'running', 'done', 'failed')", name="status"),
        CheckConstraint("rating BETWEEN 1 AND 10", name="rating"),
    )


class GenerationAttempt(Base):
    """One try at a generation: who ran it, when, and how it ended. The record that shows
    whether an answer was ever generated twice after it finished."""

    __tablename__ = "generation_attempts"

    generation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("generations.id", ondelete="CASCADE"), primary_key=True
    )
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    worker_id: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # running | done | failed | requeued (error, retried) | released (handed back on stop)
    # | superseded (another attempt took over) | stale (its late write was refused)
    outcome: Mapped[str] = mapped_column(String(16), default="running")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    generation: Mapped[Generation] = relationship(back_populates="attempt_log")


class Vote(Base):
    """Exactly one vote per battle, enforced by the primary key on battle_id."""

    __tablename__ = "votes"

    battle_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("battles.id", ondelete="CASCADE"), primary_key=True
    )
    visitor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visitors.id"), index=True)
    winner: Mapped[str] = mapped_column(String(16))
    anonymous: Mapped[bool] = mapped_column(Boolean)
    ip_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # Set by an operator from the vote-integrity report; reversible, never deletes the vote.
    excluded: Mapped[bool] = mapped_column(Boolean, default=False)
    excluded_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Why, given after the vote (app/arena/reasons.py): {"a": [tag, ...], "b": [...]} and a
    # short comment. Set once, by the voter: reasons_at is null until then.
    reason_tags: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    reason_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    reasons_at: Mapped[datetime | None] = mapped_column(nullable=True)

    battle: Mapped[Battle] = relationship(back_populates="vote")

    __table_args__ = (
        CheckConstraint(
            "winner in ('model_a', 'model_b', 'tie', 'tie (bothbad)')", name="winner"
        ),
    )


Index("ix_generations_turn", Generation.turn_id)
