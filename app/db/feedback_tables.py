"""What a VLFeedback ratings run asked each judgment: one row per (run, prompt).

A ratings judgment is keyed by its inputs (image, question, the answers in order), so a
later run, or another battle with the same prompt and answers, reuses it; the judgment's
own ``meta`` is that of the run that made it. This table is each run's own record: which
prompt the judgment rated for it, which model wrote each answer, and for an arena prompt
the battle and the positions of its two sides, which AI-human agreement reads.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models import Base, utcnow


class FeedbackItem(Base):
    __tablename__ = "feedback_items"

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("judge_runs.id", ondelete="CASCADE"), primary_key=True)
    prompt_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    judgment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("judgments.id", ondelete="CASCADE"), index=True)
    models: Mapped[list[str]] = mapped_column(JSON, default=list)  # in the judge's order
    battle_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("battles.id", ondelete="CASCADE"), nullable=True)
    side_a: Mapped[int | None] = mapped_column(Integer, nullable=True)  # answer index
    side_b: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # the prompt's place in the run's prompt list: timestamps of one insert can tie
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


Index("ix_feedback_items_battle", FeedbackItem.battle_id)
