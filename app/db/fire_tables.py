"""Tables of the FIRE evaluation: item sets, runs, dialogues and their turns (issue 11).

The answers and the teacher's replies are judgments of the judge layer (templates
fire-student@1 and fire-teacher@1, keyed by their inputs), so they are made once however
often a run is resumed. These tables say which dialogue each one belongs to: one row per
turn, unique per (dialogue, turn), so that a resumed run can not store a turn twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models import Base, utcnow

DIALOGUE_STATUSES = ("open", "reached", "exhausted", "failed")


class FireItem(Base):
    """An item with a ground truth: demo questions, a FIRE test file's rows, an operator's
    set. The image is in the blob store by sha256."""

    __tablename__ = "fire_items"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    item_set: Mapped[str] = mapped_column(String(128), index=True)
    item_id: Mapped[str] = mapped_column(String(200))
    image_sha256: Mapped[str] = mapped_column(String(64))
    question: Mapped[str] = mapped_column(Text)
    ground_truth: Mapped[str] = mapped_column(Text)
    kind: Mapped[str | None] = mapped_column(String(32), nullable=True)  # demo question kind
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("item_set", "item_id", name="uq_fire_items_key"),)


class FireRun(Base):
    """One evaluation: a student, a teacher, items, tau, N and the feedback mode. `key`
    (a digest of all of these) makes the same command resume the same run."""

    __tablename__ = "fire_runs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    student: Mapped[str] = mapped_column(String(128), index=True)
    teacher: Mapped[str] = mapped_column(String(128))
    item_set: Mapped[str] = mapped_column(String(128))
    tau: Mapped[int] = mapped_column(Integer)
    max_turns: Mapped[int] = mapped_column(Integer)
    feedback: Mapped[str] = mapped_column(String(16))  # teacher | uninformative
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | done
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class FireDialogue(Base):
    __tablename__ = "fire_dialogues"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("fire_runs.id", ondelete="CASCADE"),
                                              index=True)
    item_pk: Mapped[uuid.UUID] = mapped_column(ForeignKey("fire_items.id"))
    status: Mapped[str] = mapped_column(String(16), default="open")
    failure: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        UniqueConstraint("run_id", "item_pk", name="uq_fire_dialogues_item"),
        CheckConstraint("status in ('open', 'reached', 'exhausted', 'failed')", name="status"),
    )


class FireTurn(Base):
    """One answer of the student and the teacher's reply (score, feedback) to it."""

    __tablename__ = "fire_turns"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    dialogue_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("fire_dialogues.id", ondelete="CASCADE"), index=True)
    turn: Mapped[int] = mapped_column(Integer)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    student_judgment_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    feedback: Mapped[str | None] = mapped_column(Text, nullable=True)  # what the teacher said
    teacher_judgment_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    leaks: Mapped[list[str]] = mapped_column(JSON, default=list)
    failure: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("dialogue_id", "turn", name="uq_fire_turns_turn"),)
