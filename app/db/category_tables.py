"""The category classifier's labels: one row per (battle, category, labelling version).

A labelling version is (category set digest, template name and version, judge): the same
battle labelled again with a new template version gets new rows, and the old rows stay (and
stay *active*, i.e. the ones `battles.categories` shows) until the new run has finished.
`decision` is NULL while the judgment runs; then yes | no, or unparsable / failed (the judge
gave no usable answer: counted, never turned into a label) or skipped (the battle lacks what
the category looks at, e.g. an image-only category on a battle without an image).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models import Base, utcnow

DECISIONS = ("yes", "no", "unparsable", "failed", "skipped")


class CategoryLabel(Base):
    __tablename__ = "category_labels"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    battle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("battles.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(64))
    category_set: Mapped[str] = mapped_column(String(64))  # the set's name, for people
    set_digest: Mapped[str] = mapped_column(String(16))  # what the set asks (names, inputs)
    task: Mapped[str] = mapped_column(String(64))  # the template's name
    template_version: Mapped[int] = mapped_column(Integer)
    judge_model: Mapped[str] = mapped_column(ForeignKey("models.name"))
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)
    judgment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("judgments.id", ondelete="SET NULL"), nullable=True
    )
    run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("judge_runs.id", ondelete="SET NULL"), nullable=True
    )
    # The rows `battles.categories` was last switched to (one labelling version per battle).
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (
        UniqueConstraint("battle_id", "category", "set_digest", "task", "template_version",
                         "judge_model", name="uq_category_labels_key"),
        CheckConstraint(
            "decision is null or decision in ('yes', 'no', 'unparsable', 'failed', 'skipped')",
            name="decision"),
    )


Index("ix_category_labels_version", CategoryLabel.set_digest, CategoryLabel.task,
      CategoryLabel.template_version, CategoryLabel.judge_model)
Index("ix_category_labels_pending", CategoryLabel.run_id, CategoryLabel.decision)
