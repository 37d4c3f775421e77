"""first-turn re-draws of a failed side, and battles deleted by their owner (tombstones)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 04:00:00

Every new column is nullable or has a constant default, so SQLite adds them with plain
ALTER TABLE ... ADD COLUMN. No batch mode: on SQLite a batch would rebuild `battles` and
`generations` and drop migration 0007's triggers (the vote rules and "a finished
generation never changes").
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The attempts a generation had when its side was re-drawn: the new model's attempts
    # are counted from here, while `attempts` itself (the fencing token) only grows.
    op.add_column(
        "generations",
        sa.Column("attempts_base", sa.Integer(), server_default="0", nullable=False),
    )
    # [{side, model, attempts, error, at}, ...]: the models a first-turn re-draw replaced.
    op.add_column("battles", sa.Column("redraws", sa.JSON(), nullable=True))
    # The tombstone: deleted by its owner at this time (the rows stay; see the audit log).
    op.add_column("battles", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("battles", sa.Column("deleted_vote", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table, column in (
        ("battles", "deleted_vote"),
        ("battles", "deleted_at"),
        ("battles", "redraws"),
        ("generations", "attempts_base"),
    ):
        op.drop_column(table, column)
