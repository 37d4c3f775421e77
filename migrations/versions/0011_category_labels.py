"""category labels (the category classifier's labels per battle and labelling version)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'category_labels',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('battle_id', sa.Uuid(), nullable=False),
        sa.Column('category', sa.String(length=64), nullable=False),
        sa.Column('category_set', sa.String(length=64), nullable=False),
        sa.Column('set_digest', sa.String(length=16), nullable=False),
        sa.Column('task', sa.String(length=64), nullable=False),
        sa.Column('template_version', sa.Integer(), nullable=False),
        sa.Column('judge_model', sa.String(length=128), nullable=False),
        sa.Column('decision', sa.String(length=16), nullable=True),
        sa.Column('judgment_id', sa.Uuid(), nullable=True),
        sa.Column('run_id', sa.Uuid(), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "decision is null or decision in ('yes', 'no', 'unparsable', 'failed', 'skipped')",
            name=op.f('ck_category_labels_decision')),
        sa.ForeignKeyConstraint(['battle_id'], ['battles.id'],
                                name=op.f('fk_category_labels_battle_id_battles'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['judge_model'], ['models.name'],
                                name=op.f('fk_category_labels_judge_model_models')),
        sa.ForeignKeyConstraint(['judgment_id'], ['judgments.id'],
                                name=op.f('fk_category_labels_judgment_id_judgments'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['run_id'], ['judge_runs.id'],
                                name=op.f('fk_category_labels_run_id_judge_runs'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_category_labels')),
        sa.UniqueConstraint('battle_id', 'category', 'set_digest', 'task', 'template_version',
                            'judge_model', name='uq_category_labels_key'),
    )
    with op.batch_alter_table('category_labels', schema=None) as batch_op:
        batch_op.create_index('ix_category_labels_version',
                              ['set_digest', 'task', 'template_version', 'judge_model'],
                              unique=False)
        batch_op.create_index('ix_category_labels_pending', ['run_id', 'decision'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('category_labels', schema=None) as batch_op:
        batch_op.drop_index('ix_category_labels_pending')
        batch_op.drop_index('ix_category_labels_version')
    op.drop_table('category_labels')
