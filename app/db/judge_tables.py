"""Tables of the judge layer: runs, and one row per judgment.

A judgment is a batch job like a generation: the worker fences every write with its
attempt, and the sweeper re-enqueues what the queue lost. Its key, (task, template version,
judge, inputs hash, repetition), makes runs idempotent and resumable: submitting the same
work again finds the rows that exist and redoes nothing that finished.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models import Base, utcnow

JUDGMENT_STATUSES = ("queued", "running", "done", "failed")


class JudgeRun(Base):
    """One workflow run (a bench's answers or judgments, a category pass, ...)."""

    __tablename__ = "judge_runs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(32), index=True)  # bench-answer | bench-judge | …
    label: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # running | done (every judgment finished) | failed (could not be submitted)
    status: Mapped[str] = mapped_column(String(16), default="running")
    created_by: Mapped[str] = mapped_column(String(128), default="cli")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class Judgment(Base):
    """One call of a judge (or of a candidate model answering a bench question)."""

    __tablename__ = "judgments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("judge_runs.id", ondelete="SET NULL"), nullable=True, index=True
    )
    task: Mapped[str] = mapped_column(String(64))  # the template's name
    template_version: Mapped[int] = mapped_column(Integer)
    judge_model: Mapped[str] = mapped_column(ForeignKey("models.name"), index=True)
    inputs_hash: Mapped[str] = mapped_column(String(64))
    repetition: Mapped[int] = mapped_column(Integer, default=0)
    form: Mapped[str] = mapped_column(String(8), default="full")  # full | short
    # The inputs as rendered (images by sha256) and the sampling used: enough to redo it.
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sampling: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Free for the workflow (bench question id, candidate/anchor names, swap order …).
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    raw_output: Mapped[str | None] = mapped_column(Text, nullable=True)
    parsed: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    parse_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    completion_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)  # latest attempt's
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (
        UniqueConstraint("task", "template_version", "judge_model", "inputs_hash",
                         "repetition", name="uq_judgments_key"),
        CheckConstraint("status in ('queued', 'running', 'done', 'failed')", name="status"),
    )


Index("ix_judgments_run_status", Judgment.run_id, Judgment.status)
