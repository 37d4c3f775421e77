"""Run Alembic migrations from code (the CLI, the web container's start, the tests)."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config

from app.config import REPO_ROOT


def alembic_config(database_url: str) -> Config:
    cfg = Config(str(Path(REPO_ROOT) / "alembic.ini"))
    cfg.attributes["url"] = database_url
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Upgrade in a thread: env.py runs its own event loop, which must not nest in ours."""
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            command.upgrade(alembic_config(database_url), revision)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if errors:
        raise errors[0]
