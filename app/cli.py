"""The `arena` command: serve, worker, migrate, demo."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Annotated

import typer

from app.config import REPO_ROOT, Settings, get_settings

cli = typer.Typer(help="vlm-arena: anonymous side-by-side battles between VLMs.",
                  no_args_is_help=True)


def _logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@cli.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from app.db.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    typer.echo("database is up to date")


def _serve(settings: Settings) -> None:
    import uvicorn

    from app.db.migrate import upgrade
    from app.web.main import create_app

    upgrade(settings.database_url)
    app = create_app(settings)
    typer.secho(f"vlm-arena is running at http://{settings.host}:{settings.port}/",
                fg="green", bold=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info",
                timeout_graceful_shutdown=5)


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="interface to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    embedded_workers: Annotated[
        bool, typer.Option(help="run model workers inside the web process")
    ] = False,
) -> None:
    """Run the web server (migrations run first)."""
    _logging()
    settings = get_settings().model_copy(
        update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
        | ({"embedded_workers": True} if embedded_workers else {})
    )
    _serve(settings)


@cli.command()
def worker(
    model: Annotated[str, typer.Option(help="the registry name of the model to serve")],
    concurrency: Annotated[int | None, typer.Option(help="jobs in flight at once")] = None,
    worker_id: Annotated[str | None, typer.Option(help="stable id for this worker")] = None,
) -> None:
    """Serve one model: take its jobs from the queue, stream tokens, save answers."""
    _logging()
    from workers.run import run_worker

    settings = get_settings()
    if not settings.redis_url:
        raise typer.BadParameter("a separate worker needs ARENA_REDIS_URL (the embedded "
                                 "default runs its workers inside `arena serve`)")
    asyncio.run(run_worker(settings, model, concurrency=concurrency, worker_id=worker_id))


@cli.command()
def demo(
    port: Annotated[int, typer.Option(help="port")] = 8000,
    host: Annotated[str, typer.Option(help="interface")] = "127.0.0.1",
) -> None:
    """The embedded arena: SQLite, in-process queue, demo models on the CPU. No services."""
    _logging("WARNING")
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


# ---------------------------------------------------------------- leaderboard and export
# `arena leaderboard`, `arena export`, `arena scheduler` (defined in app/leaderboard).

from app.leaderboard.cli_commands import register as _register_leaderboard  # noqa: E402

_register_leaderboard(cli)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    cli()


if __name__ == "__main__":
    main()
