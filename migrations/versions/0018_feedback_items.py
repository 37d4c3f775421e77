"""VLFeedback: what each ratings run asked each judgment (app/db/feedback_tables.py)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'feedback_items',
        sa.Column('run_id', sa.Uuid(), nullable=False),
        sa.Column('prompt_id', sa.String(length=200), nullable=False),
        sa.Column('judgment_id', sa.Uuid(), nullable=False),
        sa.Column('models', sa.JSON(), nullable=False),
        sa.Column('battle_id', sa.Uuid(), nullable=True),
        sa.Column('side_a', sa.Integer(), nullable=True),
        sa.Column('side_b', sa.Integer(), nullable=True),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['battle_id'], ['battles.id'],
                                name=op.f('fk_feedback_items_battle_id_battles'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['judgment_id'], ['judgments.id'],
                                name=op.f('fk_feedback_items_judgment_id_judgments'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['run_id'], ['judge_runs.id'],
                                name=op.f('fk_feedback_items_run_id_judge_runs'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('run_id', 'prompt_id', name=op.f('pk_feedback_items')),
    )
    with op.batch_alter_table('feedback_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_items_judgment_id'), ['judgment_id'],
                              unique=False)
        batch_op.create_index('ix_feedback_items_battle', ['battle_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('feedback_items', schema=None) as batch_op:
        batch_op.drop_index('ix_feedback_items_battle')
        batch_op.drop_index(batch_op.f('ix_feedback_items_judgment_id'))
    op.drop_table('feedback_items')
