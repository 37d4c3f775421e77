"""The battle lifecycle: create, follow-up turns, vote.

The rules themselves live in app/arena/rules.py; here they are applied atomically. A
follow-up and a vote each bump the battle's version in one conditional UPDATE, so two
transitions that saw the same state can not both happen (a vote over a turn its voter
never saw). The database refuses a vote that breaks the rules (trigger, migration 0007).

Rows are committed before jobs are enqueued, so a worker always finds what it is asked to
generate. Should the enqueue fail, the generations stay queued in the database and the
workers' sweeper enqueues them (workers/sweeper.py): nothing is left queued forever.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from app.abuse.load_shedding import should_shed
from app.arena.adaptive_draw import adaptive_pair
from app.arena.errors import ArenaError
from app.arena.lifecycle import LifecycleRules, draw_weight
from app.arena.reasons import VoteReasons
from app.arena.rules import (
    REFINEMENT_TURN,
    follow_up_refusal,
    reasons_refusal,
    refinement_mode_refusal,
    vote_refusal,
)
from app.arena.sampling import sample_pair
from app.db.dialect import insert_for, json_merged
from app.db.models import (
    WINNERS,
    Battle,
    Generation,
    ImageBlob,
    ModelEntry,
    Turn,
    Visitor,
    Vote,
    utcnow,
)
from app.queue import JobQueue
from app.queue.errors import is_queue_outage
from app.storage.images import NormalisedImage

MODES = ("anonymous", "side_by_side", "direct")
VOTE_RULE = "vote rule"  # what the vote trigger's error says (migration 0007)
log = logging.getLogger("arena.battles")


@dataclass(frozen=True)
class Limits:
    max_prompt_chars: int
    max_turns: int
    max_queue_depth_per_worker: int
    max_generations_in_flight: int = 4  # per visitor, across all their battles


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
    # One statement (joined eager loads), not one per relationship: every battle request
    # reads a battle at least once, and on the web process's event loop each statement's
    # round trip and ORM work counts (benchmarks/README.md, the web tier's cost).
    result = await session.execute(
        select(Battle)
        .where(Battle.id == bid)
        .options(
            joinedload(Battle.turns).joinedload(Turn.generations),
            joinedload(Battle.vote),
        )
        .execution_options(populate_existing=True)
    )
    return result.unique().scalar_one_or_none()


async def owned_battle(session: AsyncSession, battle_id: str, visitor: Visitor) -> Battle:
    """The same 404 for a missing battle, another visitor's, a removed one and one its
    owner deleted: ids must not be probed, and a moderator's removal or the owner's
    deletion takes effect at once."""
    battle = await load_battle(session, battle_id)
    if (battle is None or battle.visitor_id != visitor.id or battle.removed
            or battle.deleted_at is not None):
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
    await session.execute(insert_for(session)(ImageBlob).values(**values).on_conflict_do_nothing())


async def enabled_models(session: AsyncSession, *, role: str | None = "answer") -> list[ModelEntry]:
    """Enabled models of `role` ("answer": those battles may use; None: every role, as the
    embedded workers serve judges too)."""
    query = select(ModelEntry).where(ModelEntry.enabled.is_(True))
    if role is not None:
        query = query.where(ModelEntry.role == role)
    return list((await session.scalars(query)).all())


async def model_availability(session: AsyncSession, queue: JobQueue) -> list[dict[str, object]]:
    """The enabled models and whether a live worker serves each (public: names only).
    With Redis away the pages still render, showing every model offline."""
    models = await enabled_models(session)
    try:
        live = await live_model_names(queue, models)
    except Exception as exc:
        if not is_queue_outage(exc):
            raise
        live = set()
    return [{"name": m.name, "online": m.name in live} for m in models]


async def live_model_names(queue: JobQueue, models: Sequence[ModelEntry]) -> set[str]:
    return {m.name for m in models if await queue.live_workers(m.name)}


async def _check_not_busy(queue: JobQueue, names: Sequence[str], limits: Limits) -> None:
    for name in names:
        workers = len(await queue.live_workers(name))
        if should_shed(await queue.depth(name), workers, limits.max_queue_depth_per_worker):
            raise ArenaError("The arena is busy right now. Please try again in a minute.", 503)


IN_FLIGHT_MESSAGE = "You already have answers being generated. Please wait until they finish."


async def check_in_flight(session: AsyncSession, visitor_id: uuid.UUID, limit: int) -> None:
    """At most `limit` unfinished answers per visitor, counted in the database (it survives
    restarts; the sweeper ends stuck ones). Authoritative only under `_lock_visitor`."""
    running = await session.scalar(
        select(func.count())
        .select_from(Generation)
        .join(Turn)
        .join(Battle)
        .where(Battle.visitor_id == visitor_id, Generation.status.in_(("queued", "running")))
    )
    if running and running >= limit:
        raise ArenaError(IN_FLIGHT_MESSAGE, 429, {"Retry-After": "10"})


async def _lock_visitor(session: AsyncSession, visitor_id: uuid.UUID) -> None:
    """Serialise a visitor's battle creations until commit: a row lock on PostgreSQL, the
    write lock on SQLite (the no-op UPDATE starts the write transaction)."""
    await session.execute(
        update(Visitor).where(Visitor.id == visitor_id).values(ip_hash=Visitor.ip_hash)
    )


async def _advance(session: AsyncSession, battle: Battle) -> None:
    """Bump the battle's version if nobody changed it since `battle` was read (the row
    stays locked until commit). 409 when another transition won."""
    row = (
        await session.execute(
            update(Battle)
            .where(Battle.id == battle.id, Battle.version == battle.version)
            .values(version=Battle.version + 1)
            .returning(Battle.id)
        )
    ).first()
    if row is None:
        await session.rollback()
        raise ArenaError(
            "This battle just changed (a vote or another question). Please reload.", 409
        )


async def record_screening(
    session: AsyncSession, battle_id: uuid.UUID, results: dict, review: bool
) -> None:
    """Add moderation results to a battle, and flag it for review if asked, in one
    statement: the web (follow-up prompts) and the workers (answers) write concurrently."""
    values: dict = {"moderation": json_merged(session, Battle.moderation, results)}
    if review:
        values["review_status"] = case(
            (Battle.review_status == "none", "review"), else_=Battle.review_status
        )
    await session.execute(update(Battle).where(Battle.id == battle_id).values(**values))


def generation_params(model: ModelEntry) -> dict:
    """What a generation of `model` is asked to do (its registry's limits and sampling)."""
    return {"max_new_tokens": model.max_new_tokens, **model.sampling}


def _generation(turn: Turn, side: str, model: ModelEntry) -> Generation:
    return Generation(id=uuid.uuid4(), turn=turn, side=side, model=model.name,
                      params=generation_params(model))


async def _enqueue(queue: JobQueue, gens: Sequence[Generation]) -> None:
    try:
        for g in gens:
            await queue.enqueue(g.model, str(g.id))
    except Exception:  # committed and queued in the database: the sweeper enqueues them
        log.exception("enqueue failed; the sweeper will pick these generations up")


async def choose_models(
    session: AsyncSession,
    queue: JobQueue,
    mode: str,
    requested: Sequence[str],
    rng: random.Random,
    *,
    rules: LifecycleRules | None = None,
    adaptive: bool = False,
) -> list[ModelEntry]:
    """The battle's models. Anonymous: two live models drawn by their lifecycle weight
    (``rules``: retired never, new models boosted), or with ``adaptive`` where the latest
    board is least certain (app/arena/adaptive_draw.py); otherwise the ones requested."""
    if mode not in MODES:
        raise ArenaError("Unknown battle mode.", 422)
    models = {m.name: m for m in await enabled_models(session) if not m.outage}
    live = await live_model_names(queue, list(models.values()))
    if mode == "anonymous":
        candidates = [(n, draw_weight(m, rules)) for n, m in models.items() if n in live]
        if len(candidates) < 2:
            raise ArenaError("Not enough models are online for a battle. Please try later.", 503)
        drawn = await adaptive_pair(session, candidates, rng) if adaptive else None
        a, b = drawn or sample_pair(candidates, rng)
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
    preset: str | None = None,
    refinement: bool = False,
) -> Battle:
    prompt = check_prompt(prompt, limits)
    if refusal := refinement_mode_refusal(mode, refinement):
        raise ArenaError(refusal, 422)
    await _check_not_busy(queue, [m.name for m in models], limits)
    await _lock_visitor(session, visitor.id)
    await check_in_flight(session, visitor.id, limits.max_generations_in_flight)
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
        is_preset=preset is not None,
        preset=preset,
        refinement=refinement,
    )
    turn = Turn(id=uuid.uuid4(), battle=battle, index=0, prompt=prompt)
    gens = [_generation(turn, side, m) for side, m in zip("ab", models, strict=False)]
    session.add_all([battle, turn, *gens])
    await session.commit()
    # Whole as written (its turn and generations are in memory, expire_on_commit is off,
    # every column has a Python default), so the caller answers from it, not a re-read.
    set_committed_value(battle, "vote", None)
    await _enqueue(queue, gens)
    return battle


async def add_turn(
    session: AsyncSession,
    queue: JobQueue,
    battle: Battle,
    prompt: str,
    limits: Limits,
    moderation: dict | None = None,
    review: bool = False,
    refines: int | None = None,
) -> Turn:
    """A follow-up question, or (`refines`: the index of the turn it answers) a refinement
    turn whose prompt is the visitor's feedback (app/arena/refinement.py checks it)."""
    if refines is None:
        prompt = check_prompt(prompt, limits)
    refusal = follow_up_refusal(battle, limits.max_turns)
    if refusal:
        raise ArenaError(*refusal)
    names = [battle.model_a] + ([battle.model_b] if battle.model_b else [])
    models = {m.name: m for m in await enabled_models(session)}
    if any(n not in models for n in names):
        raise ArenaError("A model in this conversation is no longer available.", 409)
    await _check_not_busy(queue, names, limits)
    await _advance(session, battle)
    turn = Turn(id=uuid.uuid4(), battle_id=battle.id, index=len(battle.turns), prompt=prompt,
                kind="question" if refines is None else REFINEMENT_TURN, refines_index=refines)
    gens = [_generation(turn, side, models[n]) for side, n in zip("ab", names, strict=False)]
    if moderation or review:
        await record_screening(session, battle.id, moderation or {}, review)
    session.add_all([turn, *gens])
    try:
        await session.commit()
    except IntegrityError as exc:  # two follow-ups at once: only one takes this index
        await session.rollback()
        raise ArenaError("Another question was just sent in this conversation.", 409) from exc
    await _enqueue(queue, gens)
    return turn


async def cast_vote(
    session: AsyncSession, battle: Battle, visitor: Visitor, winner: str, ip_hash: str
) -> Vote:
    if winner not in WINNERS:
        raise ArenaError(f"The vote must be one of: {', '.join(WINNERS)}.", 422)
    refusal = vote_refusal(battle)
    if refusal:
        raise ArenaError(refusal, 409)
    await _advance(session, battle)
    vote = Vote(
        battle_id=battle.id,
        visitor_id=visitor.id,
        winner=winner,
        anonymous=battle.mode == "anonymous",
        ip_hash=ip_hash,
        reason_tags=None,
        reason_comment=None,
        reasons_at=None,
    )
    session.add(vote)
    try:
        await session.commit()
    except IntegrityError as exc:  # the database's rules have the last word
        await session.rollback()
        if VOTE_RULE in str(exc.orig):
            raise ArenaError("This battle can not be voted on.", 409) from exc
        raise ArenaError("This battle already has a vote.", 409) from exc
    # `battle` now shows what was written (the answer is built from it, not re-read).
    set_committed_value(battle, "vote", vote)
    set_committed_value(battle, "version", battle.version + 1)
    return vote


async def attach_reasons(
    session: AsyncSession, battle: Battle, visitor: Visitor, reasons: VoteReasons
) -> None:
    """Store the reasons with the battle's vote: the rules say whether they may be given,
    and one conditional UPDATE (the voter's vote, no reasons yet) makes "once, by the
    voter" hold for concurrent requests too."""
    refusal = reasons_refusal(battle)
    if refusal:
        raise ArenaError(*refusal)
    row = (
        await session.execute(
            update(Vote)
            .where(
                Vote.battle_id == battle.id,
                Vote.visitor_id == visitor.id,
                Vote.reasons_at.is_(None),
            )
            .values(reason_tags=reasons.tags, reason_comment=reasons.comment,
                    reasons_at=utcnow())
            .returning(Vote.battle_id)
        )
    ).first()
    if row is None:
        await session.rollback()
        raise ArenaError("The reasons for this vote were already given.", 409)
    await session.commit()


async def visitor_may_see_image(session: AsyncSession, visitor: Visitor, sha256: str) -> bool:
    """Images are shown only to visitors with a live battle that uses them (not removed by
    a moderator, not deleted by its owner)."""
    found = await session.scalar(
        select(Battle.id)
        .where(
            Battle.visitor_id == visitor.id,
            Battle.image_sha256 == sha256,
            Battle.removed.is_(False),
            Battle.deleted_at.is_(None),
        )
        .limit(1)
    )
    return found is not None


async def image_in_kept_battle(session: AsyncSession, sha256: str) -> bool:
    """Staff see an image only while a battle its owner has not deleted uses it (a
    moderator's removal keeps it reviewable; the owner's deletion does not)."""
    found = await session.scalar(
        select(Battle.id)
        .where(Battle.image_sha256 == sha256, Battle.deleted_at.is_(None))
        .limit(1)
    )
    return found is not None
