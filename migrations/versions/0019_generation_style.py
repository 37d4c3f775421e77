"""Style counts of an answer, stored when it is saved (app/leaderboard/style_store.py)

The leaderboard reads them instead of counting a million answers' markdown again; a row
without them (older rows, or another STYLE_VERSION) is counted on read.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 18:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE, not batch mode: on SQLite a batch rebuild of generations breaks the
# votes_rules trigger that refers to it (both forms are native in SQLite >= 3.35).
def upgrade() -> None:
    op.add_column('generations', sa.Column('style', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('generations', 'style')
