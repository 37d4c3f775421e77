"""Staff accounts: create, list, disable, authenticate.

Argon2 is tens of milliseconds of CPU by design: every hash and verification runs in a
thread, so a login never stalls the event loop (and everyone's answer streams with it).
"""

from __future__ import annotations

import asyncio
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import audit
from app.admin.passwords import hash_password, needs_rehash, verify_password
from app.admin.sessions import revoke_user_sessions
from app.db.admin_tables import ROLES, AdminUser


class AccountError(ValueError):
    pass


def normalise_username(username: str) -> str:
    return username.strip().lower()


async def create_user(
    session: AsyncSession, username: str, password: str, role: str
) -> AdminUser:
    name = normalise_username(username)
    if not name or len(name) > 254:
        raise AccountError("a username (or e-mail) of 1 to 254 characters is needed")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if await find_user(session, name) is not None:
        raise AccountError(f"user {name!r} already exists")
    password_hash = await asyncio.to_thread(hash_password, password)
    user = AdminUser(username=name, password_hash=password_hash, role=role)
    session.add(user)
    await session.flush()
    return user


async def find_user(session: AsyncSession, username: str) -> AdminUser | None:
    return await session.scalar(
        select(AdminUser).where(AdminUser.username == normalise_username(username))
    )


async def get_user(session: AsyncSession, user_id: uuid.UUID | str) -> AdminUser | None:
    try:
        uid = user_id if isinstance(user_id, uuid.UUID) else uuid.UUID(str(user_id))
    except ValueError:
        return None
    return await session.get(AdminUser, uid)


async def list_users(session: AsyncSession) -> list[AdminUser]:
    return list((await session.scalars(select(AdminUser).order_by(AdminUser.username))).all())


async def authenticate(session: AsyncSession, username: str, password: str) -> AdminUser | None:
    """The enabled user whose password matches, else None (same work either way)."""
    user = await find_user(session, username)
    ok = await asyncio.to_thread(verify_password, user.password_hash if user else None, password)
    if user is None or not ok or user.disabled:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = await asyncio.to_thread(hash_password, password)
    return user


DEMO_ADMIN = "demo-admin"
DEMO_ENVS = ("demo", "development")


async def reset_demo_admin(session: AsyncSession, env: str) -> str:
    """Give the demo's admin account a fresh random password (creating the account on the
    first start) and return it, for `arena demo` to print: the dashboard is one login away
    without reading the docs, and each start's password replaces the last one, whose
    sessions end. Refused outside demo/development: a deployment never gets an account
    whose password was printed to a terminal."""
    if env not in DEMO_ENVS:
        raise AccountError(f"the demo admin exists only in the demo (ARENA_ENV is {env!r})")
    password = secrets.token_urlsafe(15)  # 20 characters
    user = await find_user(session, DEMO_ADMIN)
    if user is None:
        user = await create_user(session, DEMO_ADMIN, password, "admin")
        action = "admin_user.create"
    else:
        user.password_hash = await asyncio.to_thread(hash_password, password)
        user.role, user.disabled = "admin", False
        await revoke_user_sessions(session, user.id)
        action = "admin_user.password_reset"
    audit.record(session, "arena demo", action, f"admin_user:{user.id}", None, user_json(user))
    await session.commit()
    return password


def user_json(user: AdminUser) -> dict[str, object]:
    """The fields an audit entry or the API may show (never the hash)."""
    return {
        "id": str(user.id),
        "username": user.username,
        "role": user.role,
        "disabled": user.disabled,
    }
