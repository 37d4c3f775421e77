"""The bench's stored results: one row per scored run of a bench (VisionArena-Bench).

The bench itself is a file set (app/bench/files.py); its answers and judgments are rows of
the judge layer. What the leaderboard page, the nightly export and the nightly re-run need
is the score and its agreement with the arena: this table keeps them, with what produced
them (bench version, anchor, judge, templates, models, seed), so that the nightly job can
answer and judge models that are new since the latest result without being told again.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models import Base, utcnow


class BenchResult(Base):
    __tablename__ = "bench_results"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    bench_version: Mapped[str] = mapped_column(String(64), index=True)
    bench_path: Mapped[str] = mapped_column(Text)  # the bench folder, for the nightly re-run
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    source: Mapped[str] = mapped_column(String(16), default="cli")  # cli | nightly
    anchor: Mapped[str] = mapped_column(String(128))
    judge: Mapped[str] = mapped_column(String(128))
    answer_template: Mapped[str] = mapped_column(String(64))
    judge_template: Mapped[str] = mapped_column(String(64))
    models: Mapped[list[str]] = mapped_column(JSON, default=list)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    score: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Against the leaderboard snapshot run `snapshot_run_id` (None: there was none).
    agreement: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    snapshot_run_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
