"""bench results (VisionArena-Bench scores and their agreement with the arena)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('bench_results',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('bench_version', sa.String(length=64), nullable=False),
    sa.Column('bench_path', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('anchor', sa.String(length=128), nullable=False),
    sa.Column('judge', sa.String(length=128), nullable=False),
    sa.Column('answer_template', sa.String(length=64), nullable=False),
    sa.Column('judge_template', sa.String(length=64), nullable=False),
    sa.Column('models', sa.JSON(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('score', sa.JSON(), nullable=False),
    sa.Column('agreement', sa.JSON(), nullable=True),
    sa.Column('snapshot_run_id', sa.Uuid(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bench_results'))
    )
    with op.batch_alter_table('bench_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bench_results_bench_version'), ['bench_version'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_bench_results_created_at'), ['created_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('bench_results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bench_results_created_at'))
        batch_op.drop_index(batch_op.f('ix_bench_results_bench_version'))
    op.drop_table('bench_results')
