"""Imports every table module so that Alembic and the schema test see the whole schema.

A new table module adds one import line here.
"""

from app.db import (
    admin_tables,
    bench_tables,
    category_tables,
    feedback_tables,
    fire_tables,
    judge_tables,
    leaderboard_tables,
    models,
    release_tables,
)
from app.db.models import Base

__all__ = ["Base", "admin_tables", "bench_tables", "category_tables", "feedback_tables",
           "fire_tables",
           "judge_tables",
           "leaderboard_tables", "models", "release_tables"]
