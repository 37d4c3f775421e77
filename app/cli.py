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
    try:  # uvloop (installed with uvicorn[standard]) makes the token relay cheaper on the CPU
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    runner(run_worker(settings, model, concurrency=concurrency, worker_id=worker_id))


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


# ---------------------------------------------------------------- admin accounts

admin_cli = typer.Typer(help="Staff accounts of the admin dashboard.", no_args_is_help=True)
cli.add_typer(admin_cli, name="admin")


def _admin_db(fn):  # type: ignore[no-untyped-def]
    """Run `await fn(session)` against the configured database (migrated first)."""
    from app.db.migrate import upgrade
    from app.db.session import make_engine, make_sessionmaker

    settings = get_settings()
    upgrade(settings.database_url)

    async def go():  # type: ignore[no-untyped-def]
        engine = make_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                return await fn(session)
        finally:
            await engine.dispose()

    return asyncio.run(go())


@admin_cli.command("create-user")
def admin_create_user(
    username: Annotated[str, typer.Argument(help="login name (an e-mail address is fine)")],
    role: Annotated[str, typer.Option(help="admin or moderator")] = "moderator",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin")
    ] = False,
) -> None:
    """Create a staff account (the password is prompted for, or read from stdin)."""
    import sys

    from app.admin import audit
    from app.admin.accounts import AccountError, create_user, user_json
    from app.admin.passwords import MIN_PASSWORD_LENGTH, WeakPasswordError

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_LENGTH:  # before touching the database
        raise typer.BadParameter(f"passwords need at least {MIN_PASSWORD_LENGTH} characters")

    async def run(session):  # type: ignore[no-untyped-def]
        user = await create_user(session, username, password, role)
        audit.record(session, "cli", "admin_user.create", f"admin_user:{user.id}", None,
                     user_json(user))
        await session.commit()
        return user

    try:
        user = _admin_db(run)
    except (AccountError, WeakPasswordError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"created {user.role} {user.username}")


@admin_cli.command("list-users")
def admin_list_users() -> None:
    """List staff accounts."""
    from app.admin.accounts import list_users

    for u in _admin_db(list_users):
        state = "disabled" if u.disabled else "active"
        typer.echo(f"{u.username}\t{u.role}\t{state}\t{u.created_at:%Y-%m-%d}")


@admin_cli.command("revoke-sessions")
def admin_revoke_sessions(
    username: Annotated[str, typer.Argument(help="whose sessions to end")],
    disable: Annotated[bool, typer.Option(help="also disable the account")] = False,
) -> None:
    """Log a staff account out everywhere (and optionally disable it)."""
    from app.admin import audit
    from app.admin.accounts import find_user
    from app.admin.sessions import revoke_user_sessions

    async def run(session):  # type: ignore[no-untyped-def]
        user = await find_user(session, username)
        if user is None:
            return None
        n = await revoke_user_sessions(session, user.id)
        audit.record(session, "cli", "admin_user.revoke_sessions", f"admin_user:{user.id}",
                     {"live_sessions": n}, {"live_sessions": 0})
        if disable and not user.disabled:
            user.disabled = True
            audit.record(session, "cli", "admin_user.disable", f"admin_user:{user.id}",
                         {"disabled": False}, {"disabled": True})
        await session.commit()
        return n

    n = _admin_db(run)
    if n is None:
        raise typer.BadParameter(f"no user {username!r}")
    typer.echo(f"revoked {n} session(s)" + (" and disabled the account" if disable else ""))


# ---------------------------------------------------------------- leaderboard and export
# `arena leaderboard`, `arena export`, `arena scheduler` (defined in app/leaderboard).

from app.leaderboard.cli_commands import register as _register_leaderboard  # noqa: E402

_register_leaderboard(cli)


@cli.command("truth-check")
def truth_check(
    url: Annotated[str, typer.Option(help="the arena to check")] = "http://127.0.0.1:8000",
    battles: Annotated[int, typer.Option(min=10, help="how many battles")] = 300,
    concurrency: Annotated[int, typer.Option(min=1, help="battles at once")] = 8,
    mode: Annotated[
        str, typer.Option(help="side_by_side (kept off the leaderboard) or anonymous")
    ] = "side_by_side",
    seed: Annotated[int, typer.Option(help="scenes, questions and voter noise")] = 0,
) -> None:
    """Check an installation end to end with the demo models and simulated voters whose
    truth is known: the ranking must follow the models' measured accuracy."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from app.demo.truth_check import TruthCheckError, run_truth_check

    console = Console()
    with Progress(console=console) as bar:
        task = bar.add_task("battles", total=battles)
        try:
            result = asyncio.run(run_truth_check(
                url, battles=battles, concurrency=concurrency, mode=mode, seed=seed,
                progress=lambda n: bar.advance(task, n),
            ))
        except (TruthCheckError, OSError) as exc:
            console.print(f"[red]truth check could not run:[/red] {exc}")
            raise typer.Exit(2) from exc
    table = Table("model", "accuracy", "rating", "95% CI")
    acc, ivs = result.accuracy(), result.intervals()
    for m in result.ranking():
        r, lo, hi = ivs[m]
        table.add_row(m, f"{acc[m]:.0%}", f"{r:.0f}", f"{lo:.0f} – {hi:.0f}")
    console.print(table)
    console.print(f"{len(result.battles)} battles voted, {result.failed} failed")
    if result.passed():
        console.print("[green]PASS[/green]: the ranking follows accuracy and the CIs separate")
        return
    console.print("[red]FAIL[/red]: ranking " + " > ".join(result.ranking())
                  + " vs accuracy " + " > ".join(result.accuracy_order())
                  + ("" if result.separated() else " (intervals overlap)"))
    raise typer.Exit(1)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    cli()


if __name__ == "__main__":
    main()
