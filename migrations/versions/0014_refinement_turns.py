"""refinement turns, refinement battles, per-answer 1-10 ratings, and the refinement vote rule

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 14:00:00

A turn has a kind (question | refinement) and, for a refinement, the index of the turn it
refines (its `prompt` is the visitor's feedback, what both models receive). A battle may
be a refinement battle (anonymous only), in which the vote is allowed only once the latest
turn is a refinement turn whose answers finished; each answer may carry a 1-10 rating.

The columns are plain ADD COLUMN with their CHECK constraints written into the column (no
batch: on SQLite a batch rebuilds the table and drops migration 0007's triggers). The vote
trigger of 0007 gets one more condition, on both dialects; its other conditions are read
from 0007 itself so that the two migrations can not drift apart.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rules_0007():  # type: ignore[no-untyped-def]
    path = Path(__file__).with_name("0007_fenced_generations_and_vote_rules.py")
    spec = importlib.util.spec_from_file_location("arena_migration_0007", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_0007 = _rules_0007()
VOTE_RULE = _0007.VOTE_RULE

# A refinement battle is voted on only after a refinement: its latest turn must be one
# (the 0007 conditions already require every answer to be done).
_REFINEMENT_REFUSED = """
    OR EXISTS (
        SELECT 1 FROM battles b
        WHERE b.id = NEW.battle_id AND b.refinement
        AND NOT EXISTS (
            SELECT 1 FROM turns t
            WHERE t.battle_id = b.id AND t.kind = 'refinement'
            AND t."index" = (SELECT max(t2."index") FROM turns t2 WHERE t2.battle_id = b.id)
        )
    )
"""

_MESSAGE = f"{VOTE_RULE}: only the owner may vote, once every answer finished"
_REFINES = """(kind = 'question' AND refines_index IS NULL)
    OR (kind = 'refinement' AND refines_index IS NOT NULL AND refines_index < "index")"""
_BATTLE_REFINEMENT = "NOT refinement OR mode = 'anonymous'"


def _vote_trigger(refused: str, dialect: str) -> None:
    """(Re)create the vote-rule trigger with `refused` as its condition."""
    if dialect == "postgresql":
        op.execute(f"""
            CREATE OR REPLACE FUNCTION arena_vote_rules() RETURNS trigger AS $$
            BEGIN
                IF {refused} THEN
                    RAISE EXCEPTION '{_MESSAGE}' USING ERRCODE = '23514';
                END IF;
                RETURN NEW;
            END $$ LANGUAGE plpgsql;
        """)
        return
    op.execute("DROP TRIGGER IF EXISTS votes_rules")
    op.execute(f"""
        CREATE TRIGGER votes_rules BEFORE INSERT ON votes
        WHEN {refused}
        BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END;
    """)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    false = "false" if dialect == "postgresql" else "0"
    op.execute(
        f"ALTER TABLE battles ADD COLUMN refinement BOOLEAN DEFAULT {false} NOT NULL"
        + ("" if dialect == "postgresql"
           else f" CONSTRAINT ck_battles_refinement CHECK ({_BATTLE_REFINEMENT})")
    )
    op.execute(
        "ALTER TABLE turns ADD COLUMN kind VARCHAR(16) DEFAULT 'question' NOT NULL"
        " CONSTRAINT ck_turns_kind CHECK (kind IN ('question', 'refinement'))"
    )
    op.execute(
        "ALTER TABLE turns ADD COLUMN refines_index INTEGER"
        + ("" if dialect == "postgresql" else f" CONSTRAINT ck_turns_refines CHECK ({_REFINES})")
    )
    op.execute(
        "ALTER TABLE generations ADD COLUMN rating INTEGER"
        " CONSTRAINT ck_generations_rating CHECK (rating BETWEEN 1 AND 10)"
    )
    if dialect == "postgresql":  # a column constraint there may name only its own column
        op.execute(f"ALTER TABLE battles ADD CONSTRAINT ck_battles_refinement"
                   f" CHECK ({_BATTLE_REFINEMENT})")
        op.execute(f"ALTER TABLE turns ADD CONSTRAINT ck_turns_refines CHECK ({_REFINES})")
    _vote_trigger(_0007._VOTE_REFUSED + _REFINEMENT_REFUSED, dialect)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    _vote_trigger(_0007._VOTE_REFUSED, dialect)  # first: it names battles.refinement
    if dialect == "postgresql":
        op.execute("ALTER TABLE turns DROP CONSTRAINT IF EXISTS ck_turns_refines")
        op.execute("ALTER TABLE battles DROP CONSTRAINT IF EXISTS ck_battles_refinement")
    # refines_index before kind: on SQLite its CHECK names kind.
    for table, column in (
        ("generations", "rating"),
        ("turns", "refines_index"),
        ("turns", "kind"),
        ("battles", "refinement"),
    ):
        op.drop_column(table, column)
