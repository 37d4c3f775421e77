"""Repair battles.moderation that the broken PostgreSQL merge stored as an array

Until json_merged bound its patch as JSONB (app/db/dialect.py), each answer screening on
PostgreSQL turned the battle's moderation object into [object, "<json>", "<json>", ...]
(object || string). Each such row becomes the object it should have been: the elements'
keys merged in order, a later screening's key winning. SQLite stored objects all along.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 18:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        UPDATE battles SET moderation = (
            SELECT coalesce(jsonb_object_agg(kv.key, kv.value ORDER BY e.n, kv.key),
                            '{}'::jsonb)::json
            FROM jsonb_array_elements(battles.moderation::jsonb) WITH ORDINALITY AS e(elem, n),
            LATERAL jsonb_each(CASE jsonb_typeof(e.elem)
                                   WHEN 'object' THEN e.elem
                                   WHEN 'string' THEN CASE
                                       WHEN left(e.elem #>> '{}', 1) = '{'
                                       THEN (e.elem #>> '{}')::jsonb ELSE '{}'::jsonb END
                                   ELSE '{}'::jsonb END) AS kv
        )
        WHERE json_typeof(battles.moderation) = 'array'
    """)


def downgrade() -> None:
    """Nothing to undo: the objects are what the rows always meant."""
