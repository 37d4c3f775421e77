"""What both the JSON API and the pages do when a visitor starts a battle."""

from __future__ import annotations

import asyncio

from fastapi import UploadFile
from sqlalchemy.ext.asyncio import AsyncSession

from app.arena.battles import (
    add_turn,
    attach_reasons,
    cast_vote,
    check_in_flight,
    check_prompt,
    choose_models,
    create_battle,
)
from app.arena.errors import ArenaError
from app.arena.lifecycle import rules_from_settings
from app.arena.presets import draw_preset
from app.arena.reasons import check_reasons
from app.arena.rules import refinement_mode_refusal
from app.db.models import Battle, Visitor
from app.storage.images import ImageRejected, normalise_image
from app.web.guards import check_rate, screen
from app.web.state import ArenaState

CHUNK = 256 * 1024


async def read_upload(upload: UploadFile | None, max_bytes: int) -> bytes:
    # A form sent without choosing a file carries an empty, nameless part.
    if upload is None or (not upload.filename and upload.size in (None, 0)):
        raise ArenaError("Please choose an image (JPEG, PNG, WebP or GIF).", 422)
    chunks: list[bytes] = []
    total = 0
    while chunk := await upload.read(CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise ArenaError(
                f"The image is too large: the limit is {max_bytes // (1024 * 1024)} MB.", 413
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def start_battle(
    state: ArenaState,
    session: AsyncSession,
    *,
    visitor: Visitor,
    ip_hash: str,
    upload: UploadFile | None,
    prompt: str,
    mode: str,
    requested: list[str],
    preset: str = "",
    refinement: bool = False,
) -> Battle:
    """A battle on the visitor's image and question, or (``preset``) on an image and an
    example question the arena draws; the upload and prompt are then not used."""
    settings = state.settings
    if refusal := refinement_mode_refusal(mode, refinement):  # before any work is done
        raise ArenaError(refusal, 422)
    if preset:
        drawn = await asyncio.to_thread(draw_preset, preset, settings, state.rng)
        raw, prompt = drawn.image, drawn.question
    else:
        raw = await read_upload(upload, settings.max_upload_bytes)
    try:
        image = await asyncio.to_thread(
            normalise_image,
            raw,
            max_pixels=settings.max_image_pixels,
            max_side=settings.max_image_side,
        )
    except ImageRejected as exc:
        raise ArenaError(exc.message, exc.status) from exc
    prompt = check_prompt(prompt, state.limits)
    models = await choose_models(session, state.queue, mode, requested, state.rng,
                                 rules=rules_from_settings(settings),
                                 adaptive=settings.adaptive_sampling)
    await check_rate(state.limiter, "battle", visitor.id, ip_hash)
    # Early, to spare a refused request the screening (only worth a query when there is
    # one); create_battle checks it again under a lock, which is what makes the cap hold
    # for concurrent requests.
    if state.gate is not None:
        await check_in_flight(session, visitor.id, state.limits.max_generations_in_flight)
    screening = await screen(state.gate, image=image.data, prompt=prompt)
    await state.blobs.put(image.data)
    return await create_battle(
        session,
        state.queue,
        visitor=visitor,
        ip_hash=ip_hash,
        image=image,
        prompt=prompt,
        mode=mode,
        models=models,
        limits=state.limits,
        moderation=screening.results,
        review=screening.review,
        language=screening.language,
        preset=preset or None,
        refinement=refinement,
    )


async def follow_up(
    state: ArenaState, session: AsyncSession, battle: Battle, visitor: Visitor, prompt: str
) -> None:
    prompt = check_prompt(prompt, state.limits)
    screening = await screen(state.gate, prompt=prompt, key=f"prompt_{len(battle.turns)}")
    await add_turn(
        session, state.queue, battle, prompt, state.limits,
        moderation=screening.results, review=screening.review,
    )


async def vote(
    state: ArenaState,
    session: AsyncSession,
    battle: Battle,
    visitor: Visitor,
    winner: str,
    ip_hash: str,
) -> None:
    await check_rate(state.limiter, "vote", visitor.id, ip_hash)
    await cast_vote(session, battle, visitor, winner, ip_hash)
    for listener in state.vote_listeners:  # after the commit: the vote is there to count
        listener()


async def give_reasons(
    session: AsyncSession,
    battle: Battle,
    visitor: Visitor,
    tags_a: list[str],
    tags_b: list[str],
    comment: str,
) -> None:
    """Validate, then attach to the vote (once; the rules decide whether it may be)."""
    await attach_reasons(session, battle, visitor, check_reasons(tags_a, tags_b, comment))
