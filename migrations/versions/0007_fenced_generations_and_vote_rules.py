"""attempt records, battle version, status clock, vote rules and finished answers in the database

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 02:00:00

The vote rules (only the battle's owner, never in a direct chat, only once every answer
finished) and "a finished generation never changes" are triggers, so that no code path,
present or future, can break them. PostgreSQL and SQLite get the same rules.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VOTE_RULE = "vote rule"  # the message both dialects raise; app/arena maps it to 409
FINISHED_RULE = "finished generation"

# The condition under which a vote row is refused, over NEW (the vote being inserted).
_VOTE_REFUSED = """
    NOT EXISTS (
        SELECT 1 FROM battles b
        WHERE b.id = NEW.battle_id AND b.visitor_id = NEW.visitor_id AND b.mode <> 'direct'
    )
    OR EXISTS (
        SELECT 1 FROM generations g JOIN turns t ON t.id = g.turn_id
        WHERE t.battle_id = NEW.battle_id AND g.status <> 'done'
    )
    OR NOT EXISTS (
        SELECT 1 FROM generations g JOIN turns t ON t.id = g.turn_id
        WHERE t.battle_id = NEW.battle_id
    )
"""

_FINISHED_CHANGED = """
    OLD.status IN ('done', 'failed')
    AND (NEW.status <> OLD.status OR NEW.text <> OLD.text OR NEW.attempts <> OLD.attempts)
"""


def _triggers_postgres() -> None:
    op.execute(f"""
        CREATE FUNCTION arena_vote_rules() RETURNS trigger AS $$
        BEGIN
            IF {_VOTE_REFUSED} THEN
                RAISE EXCEPTION '{VOTE_RULE}: only the owner may vote, once every answer finished'
                    USING ERRCODE = '23514';
            END IF;
            RETURN NEW;
        END $$ LANGUAGE plpgsql;
    """)
    op.execute("""
        CREATE TRIGGER votes_rules BEFORE INSERT ON votes
        FOR EACH ROW EXECUTE FUNCTION arena_vote_rules();
    """)
    op.execute(f"""
        CREATE FUNCTION arena_finished_generation() RETURNS trigger AS $$
        BEGIN
            IF {_FINISHED_CHANGED} THEN
                RAISE EXCEPTION '{FINISHED_RULE}: a finished generation never changes'
                    USING ERRCODE = '23514';
            END IF;
            RETURN NEW;
        END $$ LANGUAGE plpgsql;
    """)
    op.execute("""
        CREATE TRIGGER generations_finished BEFORE UPDATE ON generations
        FOR EACH ROW EXECUTE FUNCTION arena_finished_generation();
    """)


def _triggers_sqlite() -> None:
    op.execute(f"""
        CREATE TRIGGER votes_rules BEFORE INSERT ON votes
        WHEN {_VOTE_REFUSED}
        BEGIN SELECT RAISE(ABORT, '{VOTE_RULE}: only the owner may vote, once every answer finished'); END;
    """)
    op.execute(f"""
        CREATE TRIGGER generations_finished BEFORE UPDATE ON generations
        WHEN {_FINISHED_CHANGED}
        BEGIN SELECT RAISE(ABORT, '{FINISHED_RULE}: a finished generation never changes'); END;
    """)


def upgrade() -> None:
    op.create_table('generation_attempts',
    sa.Column('generation_id', sa.Uuid(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('worker_id', sa.String(length=128), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['generation_id'], ['generations.id'], name=op.f('fk_generation_attempts_generation_id_generations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('generation_id', 'attempt', name=op.f('pk_generation_attempts'))
    )
    with op.batch_alter_table('battles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='0', nullable=False))
    # A constant default lets SQLite add the column without rebuilding the table (a rebuild
    # of a referenced table is what this migration must never risk on a live demo file).
    with op.batch_alter_table('generations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_at', sa.DateTime(timezone=True), nullable=False,
                                      server_default='1970-01-01 00:00:00+00:00'))
        batch_op.create_index(batch_op.f('ix_generations_status_at'), ['status_at'], unique=False)
    op.execute("UPDATE generations SET status_at = COALESCE(finished_at, created_at)")
    if op.get_bind().dialect.name == "postgresql":
        _triggers_postgres()
    else:
        _triggers_sqlite()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS votes_rules ON votes")
        op.execute("DROP TRIGGER IF EXISTS generations_finished ON generations")
        op.execute("DROP FUNCTION IF EXISTS arena_vote_rules()")
        op.execute("DROP FUNCTION IF EXISTS arena_finished_generation()")
    else:
        op.execute("DROP TRIGGER IF EXISTS votes_rules")
        op.execute("DROP TRIGGER IF EXISTS generations_finished")
    with op.batch_alter_table('generations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_generations_status_at'))
        batch_op.drop_column('status_at')
    with op.batch_alter_table('battles', schema=None) as batch_op:
        batch_op.drop_column('version')
    op.drop_table('generation_attempts')
