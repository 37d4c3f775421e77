"""Tables of the leaderboard: stored snapshots (the page only reads these) and export runs."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models import Base, utcnow


class LeaderboardSnapshot(Base):
    """One computed leaderboard (a kind and a slice) from one run.

    All slices computed together share ``run_id``, so the page shows one consistent run.
    ``payload`` holds the rows and the win-rate matrix; ``plots`` the rendered SVG text, so
    a request never fits or draws anything.
    """

    __tablename__ = "leaderboard_snapshots"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    run_id: Mapped[uuid.UUID] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # Votes cast before this instant were considered.
    cutoff: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(16))  # default | style
    slice: Mapped[str] = mapped_column(String(96))  # overall | category:<c> | language:<l>
    source: Mapped[str] = mapped_column(String(16), default="cli")  # cli | export
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    plots: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cleaning: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    code_version: Mapped[str] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(Integer)
    n_battles_total: Mapped[int] = mapped_column(Integer)  # voted battles considered
    n_battles_used: Mapped[int] = mapped_column(Integer)  # left after cleaning, in this slice

    __table_args__ = (UniqueConstraint("run_id", "kind", "slice"),)


class ExportRun(Base):
    """The nightly export of one date. The row doubles as the lock: a run claims it by an
    atomic conditional UPDATE, so two schedulers never export the same date at once."""

    __tablename__ = "export_runs"

    date: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running|done|failed
    owner: Mapped[str] = mapped_column(String(128), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    out_dir: Mapped[str | None] = mapped_column(Text, nullable=True)
    manifest: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
