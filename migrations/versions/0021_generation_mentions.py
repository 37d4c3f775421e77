"""Identity words an answer contains, stored when it is saved (app/leaderboard/mentions_store.py)

The ranking reader's identity-disclosure rule answers from them instead of reading every
answer's text; a row without them (older rows), or checked against other words than its
battle's models' current ones, is read from its text.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 18:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE, not batch mode: on SQLite a batch rebuild of generations breaks the
# votes_rules trigger that refers to it (both forms are native in SQLite >= 3.35).
def upgrade() -> None:
    op.add_column('generations', sa.Column('mentions', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('generations', 'mentions')
