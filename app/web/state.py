"""The long-lived objects one web process holds (built in the app's lifespan)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.abuse.rate_limits import RateLimiter
from app.arena.battles import Limits
from app.config import Settings
from app.moderation import ModerationGate
from app.queue import JobQueue
from app.storage.blobs import LocalBlobStore
from app.web.relay import StreamRelay


@dataclass
class ArenaState:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker
    queue: JobQueue
    blobs: LocalBlobStore
    ip_salt: str
    limits: Limits
    relay: StreamRelay
    gate: ModerationGate | None = None
    limiter: RateLimiter | None = None
    rng: random.Random = field(default_factory=random.SystemRandom)
    # Called after each stored vote (the embedded leaderboard refresher registers here).
    vote_listeners: list[Callable[[], None]] = field(default_factory=list)
    # Sessions for single-statement reads (app/db/session.make_reader); None: sessionmaker.
    reader: async_sessionmaker | None = None

    def read_session(self) -> AsyncSession:
        """A session for reads of one statement each (the stream's checks)."""
        return (self.reader or self.sessionmaker)()
