"""Imports every table module so that Alembic and the schema test see the whole schema.

A new table module adds one import line here.
"""

from app.db import models  # noqa: F401
from app.db.models import Base

__all__ = ["Base"]
from app.db import leaderboard_tables  # noqa: F401
from app.db import admin_tables  # noqa: F401
