"""What both the JSON API and the pages do when a visitor starts a battle."""

from __future__ import annotations

import asyncio

from fastapi import UploadFile
from sqlalchemy.ext.asyncio import AsyncSession

from app.arena.battles import choose_models, create_battle
from app.arena.errors import ArenaError
from app.db.models import Battle, Visitor
from app.storage.images import ImageRejected, normalise_image
from app.web.state import ArenaState

CHUNK = 256 * 1024


async def read_upload(upload: UploadFile | None, max_bytes: int) -> bytes:
    if upload is None or not getattr(upload, "filename", None) and upload.size in (None, 0):
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
) -> Battle:
    settings = state.settings
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
    models = await choose_models(session, state.queue, mode, requested, state.rng)
    # The prompt is checked inside create_battle too; checking first avoids storing a blob
    # for a request that will be refused anyway.
    from app.arena.battles import check_prompt

    check_prompt(prompt, state.limits)
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
    )
