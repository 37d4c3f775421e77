"""vote reasons (per-side tags and a comment, stored with the vote) and preset battles

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 02:00:00

Every new column is nullable or has a constant default, so SQLite adds them with ALTER
TABLE and never rebuilds `votes` or `battles` (both are referenced by other tables).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch): on SQLite a batch would rebuild the tables, and the
    # vote trigger (migration 0007) refers to `battles` while it is gone.
    op.add_column("votes", sa.Column("reason_tags", sa.JSON(), nullable=True))
    op.add_column("votes", sa.Column("reason_comment", sa.Text(), nullable=True))
    op.add_column("votes", sa.Column("reasons_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "battles",
        sa.Column("is_preset", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column("battles", sa.Column("preset", sa.String(length=64), nullable=True))


def downgrade() -> None:
    for table, column in (
        ("battles", "preset"),
        ("battles", "is_preset"),
        ("votes", "reasons_at"),
        ("votes", "reason_comment"),
        ("votes", "reason_tags"),
    ):
        op.drop_column(table, column)
