"""`arena admin ...`: staff accounts of the admin dashboard."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from app.config import get_settings

admin_cli = typer.Typer(help="Staff accounts of the admin dashboard.", no_args_is_help=True)


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


def register(cli: typer.Typer) -> None:
    cli.add_typer(admin_cli, name="admin")
