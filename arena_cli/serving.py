"""`arena migrate`, `arena serve`, `arena worker`, `arena demo`: the processes of an arena.

The web app (`app.web.main.create_app`) knows nothing of workers; the embedded mode is
composed here by passing `workers.embedded.start_embedded_workers` as a background service.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.config import REPO_ROOT, InsecureSecrets, Settings, check_secrets, get_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from app.web.state import ArenaState


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


async def start_leaderboard_refresher(state: ArenaState) -> list[asyncio.Task[None]]:
    """Background service of the embedded default: the leaderboard is recomputed
    `leaderboard_debounce_s` after votes (a deployment's scheduler does it on an interval)."""
    from app.leaderboard.configured import configured_params
    from app.leaderboard.refresh import LeaderboardRefresher

    if state.settings.leaderboard_debounce_s <= 0:
        return []
    refresher = LeaderboardRefresher(state.sessionmaker,
                                     debounce_s=state.settings.leaderboard_debounce_s,
                                     params=configured_params(state.settings))
    state.vote_listeners.append(refresher.poke)
    return [asyncio.create_task(refresher.run(), name="leaderboard-refresher")]


def compose_app(settings: Settings) -> FastAPI:
    """The web app, with the model workers inside it when `settings.embedded_workers`."""
    from app.web.main import create_app

    if not settings.embedded_workers:
        return create_app(settings)
    from workers.categorizer import start_categorizer
    from workers.embedded import start_embedded_workers

    # The category pass (off unless a registry model sets options.categories) runs beside
    # the workers; a deployment runs it and the leaderboard refresh in `arena scheduler`.
    return create_app(settings, background=[start_embedded_workers, start_categorizer,
                                            start_leaderboard_refresher])


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


def _announce_when_up(url: str, lines: list[str]) -> threading.Thread:
    """Print `lines` once `url`/healthz answers (not when uvicorn merely begins: the
    registry sync, moderation models and workers start first), from a daemon thread.
    urllib, not httpx: httpx logs every request at INFO."""
    import urllib.error
    import urllib.request

    def wait() -> None:
        while True:
            try:
                with urllib.request.urlopen(f"{url}healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        for i, line in enumerate(lines):
            typer.secho(line, fg="green" if i == 0 else None, bold=i == 0)

    thread = threading.Thread(target=wait, name="announce", daemon=True)
    thread.start()
    return thread


def _demo_admin_password(settings: Settings) -> str:
    from app.admin.accounts import reset_demo_admin
    from app.db.session import make_engine, make_sessionmaker

    async def go() -> str:
        engine = make_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                return await reset_demo_admin(session, settings.env)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _serve(settings: Settings, *, log_level: str = "info") -> None:
    import uvicorn

    from app.db.migrate import upgrade

    try:
        check_secrets(settings)
    except InsecureSecrets as exc:
        typer.secho(f"refusing to start: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    upgrade(settings.database_url)
    app = compose_app(settings)
    local = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    url = f"http://{local}:{settings.port}/"
    lines = [f"vlm-arena is running at {url}"]
    if settings.env == "demo":
        from app.admin.accounts import DEMO_ADMIN

        lines.append(f"admin dashboard: {url}admin/  user {DEMO_ADMIN}  password "
                     f"{_demo_admin_password(settings)}  (new at every start)")
    _announce_when_up(url, lines)
    # proxy_headers off: uvicorn would believe X-Forwarded-For from 127.0.0.1; the app's
    # TrustedProxyMiddleware believes only ARENA_TRUSTED_PROXIES.
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level,
                proxy_headers=False, timeout_graceful_shutdown=5)


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
    # Quiet start: no weight-loading progress bars from transformers / huggingface_hub
    # (read when they are imported, which is later, when the embedded workers start).
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    data = Path(os.environ.get("ARENA_DATA_DIR", "var"))
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{data.resolve() / 'arena.db'}",
        redis_url=None,
        data_dir=data,
        models_file=Path(os.environ.get("ARENA_MODELS_FILE", REPO_ROOT / "models.yaml")),
        embedded_workers=True,
        env="demo",
        host=host,
        port=port,
    )
    _serve(settings, log_level="warning")


def register(cli: typer.Typer) -> None:
    cli.command()(migrate)
    cli.command()(serve)
    cli.command()(worker)
    cli.command()(demo)
