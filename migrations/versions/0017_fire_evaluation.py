"""FIRE evaluation: item sets, runs, dialogues and their turns (app/db/fire_tables.py)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 13:34:43.164958
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('fire_items',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('item_set', sa.String(length=128), nullable=False),
    sa.Column('item_id', sa.String(length=200), nullable=False),
    sa.Column('image_sha256', sa.String(length=64), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('ground_truth', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fire_items')),
    sa.UniqueConstraint('item_set', 'item_id', name='uq_fire_items_key')
    )
    with op.batch_alter_table('fire_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fire_items_item_set'), ['item_set'], unique=False)

    op.create_table('fire_runs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('student', sa.String(length=128), nullable=False),
    sa.Column('teacher', sa.String(length=128), nullable=False),
    sa.Column('item_set', sa.String(length=128), nullable=False),
    sa.Column('tau', sa.Integer(), nullable=False),
    sa.Column('max_turns', sa.Integer(), nullable=False),
    sa.Column('feedback', sa.String(length=16), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fire_runs')),
    sa.UniqueConstraint('key', name=op.f('uq_fire_runs_key'))
    )
    with op.batch_alter_table('fire_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fire_runs_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_fire_runs_student'), ['student'], unique=False)

    op.create_table('fire_dialogues',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('run_id', sa.Uuid(), nullable=False),
    sa.Column('item_pk', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('failure', sa.Text(), nullable=True),
    sa.CheckConstraint("status in ('open', 'reached', 'exhausted', 'failed')",
        name=op.f('ck_fire_dialogues_status')),
    sa.ForeignKeyConstraint(['item_pk'], ['fire_items.id'],
        name=op.f('fk_fire_dialogues_item_pk_fire_items')),
    sa.ForeignKeyConstraint(['run_id'], ['fire_runs.id'],
        name=op.f('fk_fire_dialogues_run_id_fire_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fire_dialogues')),
    sa.UniqueConstraint('run_id', 'item_pk', name='uq_fire_dialogues_item')
    )
    with op.batch_alter_table('fire_dialogues', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fire_dialogues_run_id'), ['run_id'], unique=False)

    op.create_table('fire_turns',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('dialogue_id', sa.Uuid(), nullable=False),
    sa.Column('turn', sa.Integer(), nullable=False),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('student_judgment_id', sa.Uuid(), nullable=True),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('feedback', sa.Text(), nullable=True),
    sa.Column('teacher_judgment_id', sa.Uuid(), nullable=True),
    sa.Column('leaks', sa.JSON(), nullable=False),
    sa.Column('failure', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dialogue_id'], ['fire_dialogues.id'],
        name=op.f('fk_fire_turns_dialogue_id_fire_dialogues'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fire_turns')),
    sa.UniqueConstraint('dialogue_id', 'turn', name='uq_fire_turns_turn')
    )
    with op.batch_alter_table('fire_turns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fire_turns_dialogue_id'),
            ['dialogue_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('fire_turns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fire_turns_dialogue_id'))

    op.drop_table('fire_turns')
    with op.batch_alter_table('fire_dialogues', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fire_dialogues_run_id'))

    op.drop_table('fire_dialogues')
    with op.batch_alter_table('fire_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fire_runs_student'))
        batch_op.drop_index(batch_op.f('ix_fire_runs_created_at'))

    op.drop_table('fire_runs')
    with op.batch_alter_table('fire_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fire_items_item_set'))

    op.drop_table('fire_items')

