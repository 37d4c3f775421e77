"""The moderation queue: battles the gate flagged for review, and what a moderator does
with them (approve, remove, restore, ban or unban the visitor). Every action is audited."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.admin.audit import record
from app.admin.errors import NotFound
from app.db.models import BannedIp, Battle, Turn, Visitor

STATUSES = ("review", "approved", "removed", "none")



@dataclass(frozen=True)
class QueueFilter:
    status: str = "review"  # one of STATUSES, or "all"
    reason: str | None = None
    model: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50


@dataclass
class QueueItem:
    id: str
    created_at: datetime
    mode: str
    models: list[str]
    image: str | None
    review_status: str
    removed: bool
    visitor_id: str
    visitor_banned: bool
    reasons: list[str]
    scores: dict[str, float]
    moderation: dict[str, Any]
    turns: list[dict[str, Any]] = field(default_factory=list)
    ip_hash: str = ""
    ip_banned: bool = False

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "created_at": self.created_at.isoformat()}


def moderation_reasons(moderation: dict[str, Any] | None) -> list[str]:
    """Every reason named anywhere in the stored gate result(s), in order, once each.

    The gate stores ModerationResult.to_json(); a battle may keep one per checked input
    (image, prompt, answers) under its own key, so nested results are searched too.
    """
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for r in node.get("reasons", []) if isinstance(node.get("reasons"), list) else []:
                if isinstance(r, str) and r not in found:
                    found.append(r)
            for key, value in node.items():
                if key != "reasons":
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(moderation or {})
    return found


def moderation_scores(moderation: dict[str, Any] | None) -> dict[str, float]:
    """Scores flattened to "input.score" (or "score" for a single top-level result)."""
    flat: dict[str, float] = {}

    def walk(node: Any, prefix: str) -> None:
        if not isinstance(node, dict):
            return
        scores = node.get("scores")
        if isinstance(scores, dict):
            for k, v in scores.items():
                if isinstance(v, int | float):
                    flat[f"{prefix}{k}"] = float(v)
        for key, value in node.items():
            if key != "scores" and isinstance(value, dict):
                walk(value, f"{prefix}{key}.")

    walk(moderation or {}, "")
    return flat


async def list_queue(session: AsyncSession, flt: QueueFilter) -> list[QueueItem]:
    q = (
        select(Battle, Visitor.banned)
        .join(Visitor, Visitor.id == Battle.visitor_id)
        .options(selectinload(Battle.turns).selectinload(Turn.generations))
        .order_by(Battle.created_at.desc())
    )
    if flt.status != "all":
        q = q.where(Battle.review_status == flt.status)
    if flt.model:
        q = q.where(or_(Battle.model_a == flt.model, Battle.model_b == flt.model))
    if flt.since is not None:
        q = q.where(Battle.created_at >= flt.since)
    if flt.until is not None:
        q = q.where(Battle.created_at < flt.until)
    # The reason lives in JSON whose shape differs by database; filter it here, in pages.
    items: list[QueueItem] = []
    offset, page = 0, max(flt.limit, 50)
    while len(items) < flt.limit:
        rows = (await session.execute(q.offset(offset).limit(page))).all()
        for battle, banned in rows:
            reasons = moderation_reasons(battle.moderation)
            if flt.reason and flt.reason not in reasons:
                continue
            items.append(_item(battle, banned, reasons))
            if len(items) >= flt.limit:
                break
        if len(rows) < page:
            break
        offset += page
    return await _mark_ip_bans(session, items)


async def get_item(session: AsyncSession, battle_id: str) -> QueueItem:
    """One battle as the queue shows it, whatever its review status."""
    try:
        bid = uuid.UUID(str(battle_id))
    except ValueError as exc:
        raise NotFound("no such battle") from exc
    row = (await session.execute(
        select(Battle, Visitor.banned)
        .join(Visitor, Visitor.id == Battle.visitor_id)
        .where(Battle.id == bid)
        .options(selectinload(Battle.turns).selectinload(Turn.generations))
        .execution_options(populate_existing=True)
    )).first()
    if row is None:
        raise NotFound("no such battle")
    battle, banned = row
    return (await _mark_ip_bans(session, [_item(battle, banned,
                                                moderation_reasons(battle.moderation))]))[0]


def _item(battle: Battle, banned: bool, reasons: list[str]) -> QueueItem:
    turns = []
    for turn in battle.turns:
        answers = {
            g.side: {"model": g.model, "status": g.status, "text": g.text}
            for g in turn.generations
        }
        turns.append({"index": turn.index, "prompt": turn.prompt, "answers": answers})
    return QueueItem(
        id=str(battle.id),
        created_at=battle.created_at,
        mode=battle.mode,
        models=[m for m in (battle.model_a, battle.model_b) if m],
        image=battle.image_sha256,
        review_status=battle.review_status,
        removed=battle.removed,
        visitor_id=str(battle.visitor_id),
        visitor_banned=banned,
        reasons=reasons,
        scores=moderation_scores(battle.moderation),
        moderation=battle.moderation or {},
        turns=turns,
        ip_hash=battle.ip_hash,
    )


async def _mark_ip_bans(session: AsyncSession, items: list[QueueItem]) -> list[QueueItem]:
    hashes = {i.ip_hash for i in items}
    if hashes:
        banned = set(
            await session.scalars(select(BannedIp.ip_hash).where(BannedIp.ip_hash.in_(hashes)))
        )
        for item in items:
            item.ip_banned = item.ip_hash in banned
    return items


async def set_ip_banned(
    session: AsyncSession, ip_hash: str, banned: bool, actor: str
) -> dict[str, Any]:
    """Bar or re-admit a whole network (its salted IP hash); audited and reversible."""
    if len(ip_hash) != 64 or any(c not in "0123456789abcdef" for c in ip_hash):
        raise NotFound("no such network")
    row = await session.get(BannedIp, ip_hash)
    before = {"banned": row is not None}
    if banned and row is None:
        session.add(BannedIp(ip_hash=ip_hash, banned_by=actor))
    elif not banned and row is not None:
        await session.delete(row)
    record(session, actor, "ip.ban" if banned else "ip.unban", f"ip:{ip_hash}", before,
           {"banned": banned})
    await session.commit()
    return {"banned": banned}


def _state(battle: Battle) -> dict[str, Any]:
    return {"review_status": battle.review_status, "removed": battle.removed}


async def _battle(session: AsyncSession, battle_id: str) -> Battle:
    try:
        battle = await session.get(Battle, uuid.UUID(str(battle_id)), with_for_update=True)
    except ValueError:
        battle = None
    if battle is None:
        raise NotFound("no such battle")
    return battle


BATTLE_ACTIONS: dict[str, tuple[str, bool]] = {
    # action: (review_status after, removed after)
    "approve": ("approved", False),
    "remove": ("removed", True),
    "restore": ("approved", False),
}


async def moderate_battle(
    session: AsyncSession, battle_id: str, action: str, actor: str
) -> dict[str, Any]:
    """Apply approve / remove / restore to a battle and audit it; returns the new state."""
    if action not in BATTLE_ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    battle = await _battle(session, battle_id)
    before = _state(battle)
    battle.review_status, battle.removed = BATTLE_ACTIONS[action]
    after = _state(battle)
    record(session, actor, f"battle.{action}", f"battle:{battle.id}", before, after)
    await session.commit()
    return after


async def set_visitor_banned(
    session: AsyncSession, visitor_id: str, banned: bool, actor: str
) -> dict[str, Any]:
    """Ban or unban a visitor; the public site refuses a banned visitor on its next request."""
    try:
        visitor = await session.get(Visitor, uuid.UUID(str(visitor_id)), with_for_update=True)
    except ValueError:
        visitor = None
    if visitor is None:
        raise NotFound("no such visitor")
    before = {"banned": visitor.banned}
    visitor.banned = banned
    record(session, actor, "visitor.ban" if banned else "visitor.unban",
           f"visitor:{visitor.id}", before, {"banned": banned})
    await session.commit()
    return {"banned": banned}
