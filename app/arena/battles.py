"""The battle lifecycle: create, follow-up turns, vote. Every rule is checked here.

Rows are committed before jobs are enqueued, so a worker always finds what it is asked to
generate; a failed enqueue marks the generations failed instead of leaving them queued.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.arena.errors import ArenaError
from app.arena.sampling import sample_pair
from app.db.models import WINNERS, Battle, Generation, ImageBlob, ModelEntry, Turn, Visitor, Vote
from app.queue import JobQueue
from app.storage.images import NormalisedImage

MODES = ("anonymous", "side_by_side", "direct")


@dataclass(frozen=True)
class Limits:
    max_prompt_chars: int
    max_turns: int
    max_queue_depth_per_worker: int


def check_prompt(prompt: str | None, limits: Limits) -> str:
    text = (prompt or "").strip()
    if not text:
        raise ArenaError("Please type a question about the image.", 422)
    if len(text) > limits.max_prompt_chars:
        raise ArenaError(
            f"The question is too long ({len(text):,} characters; "
            f"the limit is {limits.max_prompt_chars:,}).",
            422,
        )
    if "\x00" in text:
        raise ArenaError("The question contains invalid characters.", 422)
    return text


async def load_battle(session: AsyncSession, battle_id: uuid.UUID | str) -> Battle | None:
    try:
        bid = battle_id if isinstance(battle_id, uuid.UUID) else uuid.UUID(str(battle_id))
    except ValueError:
        return None
    return await session.scalar(
        select(Battle)
        .where(Battle.id == bid)
        .options(
            selectinload(Battle.turns).selectinload(Turn.generations),
            selectinload(Battle.vote),
        )
        .execution_options(populate_existing=True)
    )


async def owned_battle(session: AsyncSession, battle_id: str, visitor: Visitor) -> Battle:
    """The same 404 for a missing battle, another visitor's and a removed one: ids must not
    be probed, and a moderator's removal takes effect at once."""
    battle = await load_battle(session, battle_id)
    if battle is None or battle.visitor_id != visitor.id or battle.removed:
        raise ArenaError("Battle not found.", 404)
    return battle


async def store_image_row(session: AsyncSession, image: NormalisedImage) -> None:
    values = dict(
        sha256=image.sha256,
        phash=image.phash,
        width=image.width,
        height=image.height,
        bytes=len(image.data),
        mime=image.mime,
    )
    dialect = session.bind.dialect.name if session.bind else "postgresql"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(insert(ImageBlob).values(**values).on_conflict_do_nothing())


async def enabled_models(session: AsyncSession) -> list[ModelEntry]:
    return list(
        (await session.scalars(select(ModelEntry).where(ModelEntry.enabled.is_(True)))).all()
    )


async def model_availability(session: AsyncSession, queue: JobQueue) -> list[dict[str, object]]:
    """The enabled models and whether a live worker serves each (public: names only)."""
    models = await enabled_models(session)
    live = await live_model_names(queue, models)
    return [{"name": m.name, "online": m.name in live} for m in models]


async def live_model_names(queue: JobQueue, models: Sequence[ModelEntry]) -> set[str]:
    return {m.name for m in models if await queue.live_workers(m.name)}


async def _check_not_busy(queue: JobQueue, names: Sequence[str], limits: Limits) -> None:
    for name in names:
        workers = len(await queue.live_workers(name))
        if await queue.depth(name) >= max(workers, 1) * limits.max_queue_depth_per_worker:
            raise ArenaError("The arena is busy right now. Please try again in a minute.", 503)


def _generation(turn: Turn, side: str, model: ModelEntry) -> Generation:
    params = {"max_new_tokens": model.max_new_tokens, **model.sampling}
    return Generation(id=uuid.uuid4(), turn=turn, side=side, model=model.name, params=params)


async def _enqueue(session: AsyncSession, queue: JobQueue, gens: Sequence[Generation]) -> None:
    try:
        for g in gens:
            await queue.enqueue(g.model, str(g.id))
    except Exception as exc:  # the queue is down: fail visibly, leave nothing queued forever
        for g in gens:
            g.status, g.error = "failed", f"enqueue failed: {exc}"
        await session.commit()
        raise ArenaError("The arena could not start the answers. Please try again.", 503) from exc


async def choose_models(
    session: AsyncSession,
    queue: JobQueue,
    mode: str,
    requested: Sequence[str],
    rng: random.Random,
) -> list[ModelEntry]:
    if mode not in MODES:
        raise ArenaError("Unknown battle mode.", 422)
    models = {m.name: m for m in await enabled_models(session) if not m.outage}
    live = await live_model_names(queue, list(models.values()))
    if mode == "anonymous":
        candidates = [(n, m.weight) for n, m in models.items() if n in live]
        if len(candidates) < 2:
            raise ArenaError("Not enough models are online for a battle. Please try later.", 503)
        a, b = sample_pair(candidates, rng)
        return [models[a], models[b]]
    need = 1 if mode == "direct" else 2
    names = [n for n in requested if n]
    if len(names) != need:
        raise ArenaError(f"Choose {need} model{'s' if need > 1 else ''}.", 422)
    if need == 2 and names[0] == names[1]:
        raise ArenaError("Choose two different models.", 422)
    for n in names:
        if n not in models:
            raise ArenaError("Unknown model.", 422)
        if n not in live:
            raise ArenaError("That model is offline right now. Please choose another.", 503)
    return [models[n] for n in names]


async def create_battle(
    session: AsyncSession,
    queue: JobQueue,
    *,
    visitor: Visitor,
    ip_hash: str,
    image: NormalisedImage | None,
    prompt: str,
    mode: str,
    models: Sequence[ModelEntry],
    limits: Limits,
    moderation: dict | None = None,
    review: bool = False,
    language: str | None = None,
) -> Battle:
    prompt = check_prompt(prompt, limits)
    await _check_not_busy(queue, [m.name for m in models], limits)
    if image is not None:
        await store_image_row(session, image)
    battle = Battle(
        id=uuid.uuid4(),
        visitor_id=visitor.id,
        mode=mode,
        model_a=models[0].name,
        model_b=models[1].name if len(models) > 1 else None,
        image_sha256=image.sha256 if image else None,
        ip_hash=ip_hash,
        moderation=moderation or {},
        review_status="review" if review else "none",
        language=language,
    )
    turn = Turn(id=uuid.uuid4(), battle=battle, index=0, prompt=prompt)
    gens = [_generation(turn, side, m) for side, m in zip("ab", models, strict=False)]
    session.add_all([battle, turn, *gens])
    await session.commit()
    await _enqueue(session, queue, gens)
    return battle


def _latest_turn_finished(battle: Battle) -> tuple[bool, bool]:
    """(all done, any failed) for the latest turn."""
    gens = battle.turns[-1].generations
    return all(g.status == "done" for g in gens), any(g.status == "failed" for g in gens)


async def add_turn(
    session: AsyncSession,
    queue: JobQueue,
    battle: Battle,
    prompt: str,
    limits: Limits,
    moderation: dict | None = None,
    review: bool = False,
) -> Turn:
    prompt = check_prompt(prompt, limits)
    if battle.vote is not None:
        raise ArenaError("This battle is over. Start a new battle to ask more.", 409)
    if len(battle.turns) >= limits.max_turns:
        raise ArenaError(
            f"This conversation reached its limit of {limits.max_turns} questions.", 422
        )
    done, failed = _latest_turn_finished(battle)
    if failed:
        raise ArenaError("An answer failed; this conversation can not continue.", 409)
    if not done:
        raise ArenaError("Please wait until both answers have finished.", 409)
    names = [battle.model_a] + ([battle.model_b] if battle.model_b else [])
    models = {m.name: m for m in await enabled_models(session)}
    if any(n not in models for n in names):
        raise ArenaError("A model in this conversation is no longer available.", 409)
    await _check_not_busy(queue, names, limits)
    turn = Turn(id=uuid.uuid4(), battle=battle, index=len(battle.turns), prompt=prompt)
    gens = [_generation(turn, side, models[n]) for side, n in zip("ab", names, strict=False)]
    if moderation:
        battle.moderation = {**battle.moderation, **moderation}
    if review and battle.review_status == "none":
        battle.review_status = "review"
    session.add_all([turn, *gens])
    try:
        await session.commit()
    except IntegrityError as exc:  # two follow-ups at once: only one takes this index
        await session.rollback()
        raise ArenaError("Another question was just sent in this conversation.", 409) from exc
    await _enqueue(session, queue, gens)
    return turn


async def cast_vote(
    session: AsyncSession, battle: Battle, visitor: Visitor, winner: str, ip_hash: str
) -> Vote:
    if winner not in WINNERS:
        raise ArenaError(f"The vote must be one of: {', '.join(WINNERS)}.", 422)
    if battle.mode == "direct":
        raise ArenaError("A direct chat has nothing to vote on.", 409)
    if battle.vote is not None:
        raise ArenaError("This battle already has a vote.", 409)
    done, failed = _latest_turn_finished(battle)
    if failed:
        raise ArenaError("An answer failed, so this battle can not be voted on.", 409)
    if not done:
        raise ArenaError("Please wait until both answers have finished before voting.", 409)
    vote = Vote(
        battle_id=battle.id,
        visitor_id=visitor.id,
        winner=winner,
        anonymous=battle.mode == "anonymous",
        ip_hash=ip_hash,
    )
    session.add(vote)
    try:
        await session.commit()
    except IntegrityError as exc:  # a concurrent vote won the race; the database decides
        await session.rollback()
        raise ArenaError("This battle already has a vote.", 409) from exc
    return vote


async def visitor_may_see_image(session: AsyncSession, visitor: Visitor, sha256: str) -> bool:
    """Images are shown only to visitors with a live battle that uses them."""
    found = await session.scalar(
        select(Battle.id)
        .where(
            Battle.visitor_id == visitor.id,
            Battle.image_sha256 == sha256,
            Battle.removed.is_(False),
        )
        .limit(1)
    )
    return found is not None
