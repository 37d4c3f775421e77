"""The arena app with the admin router included, for tests that need a real server.

(app/web/main.py will include the router itself; until then tests start this module.)
"""

from __future__ import annotations

from fastapi import FastAPI

from app.config import get_settings
from app.db.migrate import upgrade
from app.web import admin_routes
from app.web.main import create_app


def app_factory() -> FastAPI:
    settings = get_settings()
    upgrade(settings.database_url)
    app = create_app(settings)
    if not any(getattr(r, "path", "").startswith("/admin") for r in app.routes):
        app.include_router(admin_routes.router)
    return app
