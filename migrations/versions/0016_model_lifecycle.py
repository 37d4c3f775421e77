"""model lifecycle: retired models, the votes a model had at the last leaderboard run, and
the provider of each model

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 14:00:00

Plain ADD COLUMN on both dialects (nullable or a constant default): no SQLite table
rebuild, so the triggers of earlier migrations stay.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Retired by an operator at this time: stays on the board, marked, never drawn again.
    op.add_column("models", sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
    # Counted votes at the latest leaderboard run: the listing threshold and the new-model
    # sampling boost read it (refreshed with every run, never on the vote path).
    op.add_column(
        "models", sa.Column("ranked_votes", sa.Integer(), server_default="0", nullable=False)
    )
    # Who makes the model (models.yaml `provider`): the data-share report groups by it.
    op.add_column("models", sa.Column("provider", sa.String(length=128), nullable=True))


def downgrade() -> None:
    for column in ("provider", "ranked_votes", "retired_at"):
        op.drop_column("models", column)
