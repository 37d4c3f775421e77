"""Keep the stored leaderboard close to the votes, between nightly exports.

Two triggers, one loop: `poke()` after a vote (the embedded default, where votes and the
loop share a process) recomputes `debounce_s` later, so a burst of votes costs one fit;
`interval_s` (a deployment's scheduler) recomputes periodically, but only when a vote came
in after the latest snapshot's cutoff. The fit itself runs in threads (`run_leaderboard`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.leaderboard_tables import LeaderboardSnapshot
from app.db.models import Vote
from app.leaderboard.compute import LeaderboardParams
from app.leaderboard.pipeline import run_leaderboard

log = logging.getLogger("arena.leaderboard")

SOURCE = "refresh"


async def votes_since_snapshot(session: AsyncSession) -> bool:
    """True when some vote is newer than the latest snapshot's cutoff (or there are votes
    and no snapshot yet)."""
    cutoff = await session.scalar(select(func.max(LeaderboardSnapshot.cutoff)))
    newer = select(Vote.battle_id).limit(1)
    if cutoff is not None:
        newer = newer.where(Vote.created_at > cutoff)
    return await session.scalar(newer) is not None


class LeaderboardRefresher:
    """The recompute loop; `run()` until cancelled or `stop` is set."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker,
        *,
        debounce_s: float = 0.0,
        interval_s: float = 0.0,
        params: LeaderboardParams = LeaderboardParams(),
    ) -> None:
        self.sessionmaker = sessionmaker
        self.debounce_s = debounce_s
        self.interval_s = interval_s
        self.params = params
        self.runs = 0
        self._poked = asyncio.Event()

    def poke(self) -> None:
        """A vote was stored: recompute soon (several pokes within the delay: once)."""
        self._poked.set()

    async def _wait(self, stop: asyncio.Event) -> bool:
        """Until a poke (True), the interval (False) or stop."""
        waits = [asyncio.ensure_future(self._poked.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(
                waits, timeout=self.interval_s or None, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for w in waits:
                w.cancel()
        return self._poked.is_set()

    async def refresh(self, *, only_if_new: bool) -> bool:
        """One recompute (skipped when `only_if_new` and no vote came in since the last
        snapshot); True when a snapshot was stored."""
        if only_if_new:
            async with self.sessionmaker() as session:
                if not await votes_since_snapshot(session):
                    return False
        started = time.monotonic()
        run_id, run = await run_leaderboard(self.sessionmaker, params=self.params, source=SOURCE)
        self.runs += 1
        log.info(
            "leaderboard refreshed: run %s, %d of %d voted battles counted, %.1f s",
            run_id,
            run.cleaning["kept"],
            run.cleaning["total"],
            time.monotonic() - started,
        )
        return True

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        while not stop.is_set():
            poked = await self._wait(stop)
            if stop.is_set():
                return
            if poked:  # let the burst of votes this one belongs to arrive first
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.debounce_s)
                if stop.is_set():
                    return
                self._poked.clear()  # votes during the fit poke again: another run after
            try:
                # A poke recomputes unconditionally: a vote committed while the last fit
                # read the votes can carry a time before that fit's cutoff.
                await self.refresh(only_if_new=not poked)
            except Exception:  # an outage or a bad row must not end the loop
                log.exception("leaderboard refresh failed; trying again later")
