"""One judgment on the worker: render the template, call the engine, parse, save.

The rendering and the parsers are the judge layer's (app/judges); this module only runs
them. An output that does not parse is stored as a parse failure with the raw output; a
sampled judge (temperature > 0) gets one more try first, a greedy one would only repeat
itself.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.judges.results import ParseFailure
from app.judges.templates import (
    ImageInput,
    TemplateInputError,
    UnknownTemplate,
    get_template,
    parse_output,
    render,
)
from app.storage.blobs import BlobNotFound, LocalBlobStore
from workers import judgment_store
from workers.engines.base import ChatMessage, Engine, Finished, GenerationRequest, TextDelta
from workers.engines.priority import BATCH
from workers.judgment_store import JudgmentContext

IMAGE_KEY = "$image_sha256"  # how app.judges.inputs.canonical_inputs writes an image
PARSE_ATTEMPTS = 2  # tries for a sampled judge whose output does not parse


@dataclass(frozen=True)
class JudgmentOutcome:
    saved: bool = False  # False with no error: another attempt took over
    permanent_error: str | None = None  # no retry can help (unknown template, bad inputs)
    completion_tokens: int = 0


class RetryParse(Exception):
    """A sampled judge's output did not parse: try again (PARSE_ATTEMPTS in all)."""


def parsed_json(result: Any) -> dict[str, Any]:
    """A parse result as stored: its type and its fields (an enum result, a pairwise
    ``Verdict``, has no fields: its value is stored)."""
    if isinstance(result, enum.Enum):
        return {"type": type(result).__name__, "value": result.value}
    return {"type": type(result).__name__, **dataclasses.asdict(result)}


async def _inputs(ctx: JudgmentContext, template: Any, blobs: LocalBlobStore) -> dict[str, Any]:
    """Stored inputs (canonical: images as {"$image_sha256": ...}) back to what `render`
    takes, with the images' bytes from the blob store."""
    inputs = dict(ctx.inputs)
    for spec in template.inputs:
        value = inputs.get(spec.name)
        if spec.type == "image" and isinstance(value, dict) and IMAGE_KEY in value:
            sha = str(value[IMAGE_KEY])
            inputs[spec.name] = ImageInput(sha256=sha, data=await blobs.get(sha))
    return inputs


async def run_judgment(
    engine: Engine, blobs: LocalBlobStore, sessionmaker: async_sessionmaker,
    ctx: JudgmentContext,
) -> JudgmentOutcome:
    try:
        template = get_template(ctx.task, ctx.template_version)
        inputs = await _inputs(ctx, template, blobs)
        prompt = render(template, inputs, form=ctx.form)  # type: ignore[arg-type]
    except (UnknownTemplate, TemplateInputError, BlobNotFound, ValueError) as exc:
        return JudgmentOutcome(permanent_error=f"{type(exc).__name__}: {exc}")
    sampling = {**prompt.sampling.as_dict(), **ctx.sampling}
    images = [i.data if isinstance(i, ImageInput) else i for i in prompt.images]
    request = GenerationRequest(
        messages=[ChatMessage(m.role, m.content) for m in prompt.messages],
        image=images[0] if images else None,
        max_new_tokens=int(sampling["max_tokens"]),
        temperature=float(sampling["temperature"]),
        top_p=float(sampling.get("top_p", 1.0)),
        seed=sampling.get("seed"),
        request_id=f"judgment-{ctx.id}-{ctx.attempt}",
        priority=BATCH,
    )
    start = time.monotonic()
    parts: list[str] = []
    finished: Finished | None = None
    async for event in engine.generate(request):
        if isinstance(event, TextDelta):
            parts.append(event.text.replace("\x00", ""))
        elif isinstance(event, Finished):
            finished = event
    if finished is None:
        raise RuntimeError("engine ended without a Finished event")
    raw = "".join(parts)
    result = parse_output(template, raw, inputs)
    failure = str(result) if isinstance(result, ParseFailure) else None
    if failure and request.temperature > 0 and ctx.attempt < PARSE_ATTEMPTS:
        raise RetryParse(failure)
    async with sessionmaker() as session:
        saved = await judgment_store.save_result(
            session, str(ctx.id), ctx.attempt, raw_output=raw,
            parsed=None if failure else parsed_json(result), parse_error=failure,
            prompt_tokens=finished.prompt_tokens, completion_tokens=finished.completion_tokens,
            latency_ms=(time.monotonic() - start) * 1000,
        )
    return JudgmentOutcome(saved=saved, completion_tokens=finished.completion_tokens)
