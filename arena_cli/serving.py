"""`arena migrate`, `arena serve`, `arena worker`, `arena demo`: the processes of an arena.

The web app (`app.web.main.create_app`) knows nothing of workers; the embedded mode is
composed here by passing `workers.embedded.start_embedded_workers` as a background service.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.config import REPO_ROOT, Settings, get_settings

if TYPE_CHECKING:
    from fastapi import FastAPI


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def compose_app(settings: Settings) -> FastAPI:
    """The web app, with the model workers inside it when `settings.embedded_workers`."""
    from app.web.main import create_app

    if not settings.embedded_workers:
        return create_app(settings)
    from workers.categorizer import start_categorizer
    from workers.embedded import start_embedded_workers

    # The category pass (off unless a registry model sets options.categories) runs beside
    # the workers; a deployment runs it in `arena scheduler`.
    return create_app(settings, background=[start_embedded_workers, start_categorizer])


def app_factory() -> FastAPI:
    """Entry point for `uvicorn --factory arena_cli.serving:app_factory` (settings from the
    environment, ARENA_EMBEDDED_WORKERS included)."""
    return compose_app(get_settings())


def migrate() -> None:
    """Bring the database schema up to date."""
    from app.db.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    typer.echo("database is up to date")


def _serve(settings: Settings) -> None:
    import uvicorn

    from app.db.migrate import upgrade

    upgrade(settings.database_url)
    app = compose_app(settings)
    typer.secho(f"vlm-arena is running at http://{settings.host}:{settings.port}/",
                fg="green", bold=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info",
                timeout_graceful_shutdown=5)


def serve(
    host: Annotated[str | None, typer.Option(help="interface to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    embedded_workers: Annotated[
        bool, typer.Option(help="run model workers inside the web process")
    ] = False,
) -> None:
    """Run the web server (migrations run first)."""
    setup_logging()
    settings = get_settings().model_copy(
        update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
        | ({"embedded_workers": True} if embedded_workers else {})
    )
    _serve(settings)


def worker(
    model: Annotated[str, typer.Option(help="the registry name of the model to serve")],
    concurrency: Annotated[int | None, typer.Option(help="jobs in flight at once")] = None,
    worker_id: Annotated[str | None, typer.Option(help="stable id for this worker")] = None,
) -> None:
    """Serve one model: take its jobs from the queue, stream tokens, save answers."""
    setup_logging()
    from workers.run import run_worker

    settings = get_settings()
    if not settings.redis_url:
        raise typer.BadParameter("a separate worker needs ARENA_REDIS_URL (the embedded "
                                 "default runs its workers inside `arena serve`)")
    try:  # uvloop (installed with uvicorn[standard]) makes the token relay cheaper on the CPU
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    runner(run_worker(settings, model, concurrency=concurrency, worker_id=worker_id))


def demo(
    port: Annotated[int, typer.Option(help="port")] = 8000,
    host: Annotated[str, typer.Option(help="interface")] = "127.0.0.1",
) -> None:
    """The embedded arena: SQLite, in-process queue, demo models on the CPU. No services."""
    setup_logging("WARNING")
    data = Path(os.environ.get("ARENA_DATA_DIR", "var"))
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{data.resolve() / 'arena.db'}",
        redis_url=None,
        data_dir=data,
        models_file=Path(os.environ.get("ARENA_MODELS_FILE", REPO_ROOT / "models.yaml")),
        embedded_workers=True,
        host=host,
        port=port,
    )
    _serve(settings)


def register(cli: typer.Typer) -> None:
    cli.command()(migrate)
    cli.command()(serve)
    cli.command()(worker)
    cli.command()(demo)
