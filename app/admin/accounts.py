"""Staff accounts: create, list, disable, authenticate."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.passwords import hash_password, needs_rehash, verify_password
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
    user = AdminUser(username=name, password_hash=hash_password(password), role=role)
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
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or user.disabled:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def user_json(user: AdminUser) -> dict[str, object]:
    """The fields an audit entry or the API may show (never the hash)."""
    return {
        "id": str(user.id),
        "username": user.username,
        "role": user.role,
        "disabled": user.disabled,
    }
