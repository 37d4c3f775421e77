"""release filter cache (the release filters' verdicts by image sha256 / text hash)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 13:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'release_filter_cache',
        sa.Column('filter', sa.String(length=64), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('result', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('filter', 'version', 'key',
                                name=op.f('pk_release_filter_cache')),
    )


def downgrade() -> None:
    op.drop_table('release_filter_cache')
