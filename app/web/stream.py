"""The SSE relay: both sides of one turn over one connection.

Events are named "a" and "b" (never a model name). Each event's id is a cursor over both
generation streams ("a=<id>;b=<id>"), so a browser that reconnects with Last-Event-ID
resumes both sides exactly where it stopped and still ends with the complete answers.
Data: {"type": "delta"|"reset"|"snapshot"|"done"|"error", ...}; a final "end" event tells
the page whether it may vote.

The connections of one process share one reader of the streams (app/web/relay.py). What
arrived for a side in one read leaves as one event (the deltas joined), whose id is the
cursor just past the last entry it carries, so a resume neither loses nor repeats text.
A gone client is noticed at once (Starlette cancels the response when the client
disconnects) and its subscription released; a client that reads too slowly to keep up
is told to reconnect (a "status" event of type "reconnect", then the response ends;
EventSource reconnects by itself with its last event id).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import select
from starlette.requests import Request

from app.arena.battles import load_battle
from app.arena.rules import can_vote as vote_allowed
from app.arena.views import PUBLIC_FAILURE
from app.db.models import Battle, Generation
from app.observability.metrics import SSE_CONNECTIONS
from app.queue import QueueEvent
from app.web.outages import OUTAGE_MESSAGE, is_outage
from app.web.relay import Subscription, by_stream
from app.web.render import render_markdown
from app.web.state import ArenaState

TERMINAL = ("done", "error")
STREAM_ID = re.compile(r"[0-9]{1,20}(-[0-9]{1,20})?")  # ASCII digits only: "²" is a digit too


class SideFilter:
    """What of one side's stream the page is shown: the current attempt's deltas, each
    once, in order. A superseded attempt that woke up late writes nothing the page shows;
    a delta published twice (a retried write) shows once; and a reconnect that joins after
    a new attempt began without seeing its `reset` gets one, so old and new text never mix.
    """

    def __init__(self) -> None:
        self.attempt = 0  # the newest attempt seen (0: none yet)
        self.seq = 0  # the last delta shown of that attempt

    def _begin(self, attempt: int) -> bool:
        """Move on to `attempt`; True when the page must clear what it showed."""
        shown_before = self.attempt > 0
        self.attempt, self.seq = attempt, 0
        return shown_before

    def accept(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        kind = data.get("type")
        attempt = int(data.get("attempt") or 0)
        if kind == "reset":
            if attempt and attempt <= self.attempt:
                return []  # already on this attempt
            self._begin(attempt)
            return [{"type": "reset"}]
        if kind != "delta" or (attempt and attempt < self.attempt):
            return []
        out: list[dict[str, Any]] = []
        if attempt > self.attempt and self._begin(attempt):
            out.append({"type": "reset"})
        seq = int(data.get("seq") or 0)
        if seq:
            if seq <= self.seq:
                return out  # seen already
            self.seq = seq
        out.append({"type": "delta", "text": data.get("text", "")})
        return out


def parse_cursor(raw: str | None) -> dict[str, str]:
    cursors: dict[str, str] = {}
    for part in (raw or "").split(";"):
        side, _, value = part.partition("=")
        if side in ("a", "b") and STREAM_ID.fullmatch(value):
            cursors[side] = value
    return cursors


def format_cursor(cursors: dict[str, str]) -> str:
    return ";".join(f"{s}={cursors[s]}" for s in sorted(cursors))


def sse(event: str, data: dict[str, Any], event_id: str | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


def _final_payload(status: str, text: str, finish_reason: str | None) -> dict[str, Any]:
    if status == "failed":
        return {"type": "error", "message": PUBLIC_FAILURE}
    return {"type": "done", "text": text, "html": render_markdown(text),
            "finish_reason": finish_reason}


async def _final_states(state: ArenaState, ids: list[Any]) -> dict[str, dict[str, Any]]:
    """The finished sides among `ids`, as the payload the page shows (one small query)."""
    async with state.read_session() as session:
        rows = await session.execute(
            select(Generation.id, Generation.status, Generation.text, Generation.finish_reason)
            .where(Generation.id.in_(ids), Generation.status.in_(("done", "failed")))
        )
        return {str(i): _final_payload(s, t, f) for i, s, t, f in rows}


async def _outcome(state: ArenaState, battle_id: Any, turn_index: int) -> dict[str, bool]:
    async with state.read_session() as session:
        battle = await load_battle(session, battle_id)
    if battle is None:
        return {"can_vote": False, "failed": True}
    failed = any(g.status == "failed" for g in battle.turns[turn_index].generations)
    # Only the latest turn's stream may offer the vote; the rule itself is the arena's.
    can_vote = turn_index == len(battle.turns) - 1 and vote_allowed(battle)
    return {"can_vote": can_vote, "failed": failed}


class _Turn:
    """One connection's progress through one turn: the cursor and filter of each side."""

    def __init__(self, state: ArenaState, gens: dict[str, Generation], cursor: str | None):
        self.state = state
        self.gens = gens
        self.side_of = {str(g.id): s for s, g in gens.items()}
        self.cursors = {s: "0-0" for s in gens} | parse_cursor(cursor)
        self.filters = {s: SideFilter() for s in gens}
        self.finished: set[str] = set()

    def event(self, side: str, data: dict[str, Any]) -> str:
        return sse(side, data, format_cursor(self.cursors))

    def live_cursors(self) -> dict[str, str]:
        return {str(g.id): self.cursors[s] for s, g in self.gens.items()
                if s not in self.finished}

    async def side_events(self, side: str, events: list[QueueEvent]) -> list[str]:
        """One read's entries of one side as few SSE events: the deltas joined into one,
        broken only by a reset. Each event's id covers exactly the entries it carries."""
        out: list[str] = []
        texts: list[str] = []

        def flush() -> None:
            if texts:
                out.append(self.event(side, {"type": "delta", "text": "".join(texts)}))
                texts.clear()

        for event in events:
            data = event.data
            if data.get("type") in TERMINAL:
                if int(data.get("attempt") or 0) < self.filters[side].attempt:
                    self.cursors[side] = event.id
                    continue  # a superseded attempt's event
                flush()
                finals = await _final_states(self.state, [self.gens[side].id])
                self.cursors[side] = event.id
                payload = finals.get(str(self.gens[side].id))
                if payload is None:
                    continue  # not final in the database (a stale event): keep reading
                self.finished.add(side)
                out.append(self.event(side, payload))
                return out
            for shown in self.filters[side].accept(data):
                if shown["type"] == "delta":
                    texts.append(shown["text"])
                else:  # a reset: the run before it leaves first; both carry the cursor of
                    flush()  # the entries before this one (a resume re-reads this one)
                    out.append(self.event(side, shown))
            # Everything this entry brought is sent or in the run being joined (which
            # leaves under the cursor current when it is flushed).
            self.cursors[side] = event.id
        flush()
        return out


async def relay_turn(
    state: ArenaState, request: Request, battle: Battle, turn_index: int, last_event_id: str | None
) -> AsyncIterator[str]:
    del request  # disconnects: Starlette cancels this generator at once (see module doc)
    turn = _Turn(state, {g.side: g for g in battle.turns[turn_index].generations},
                 last_event_id)
    yield "retry: 1000\n\n"

    # Sides already finished in the database are sent whole: that needs no stream history.
    for side, gen in turn.gens.items():
        if gen.status in ("done", "failed"):
            turn.finished.add(side)
            yield turn.event(side, _final_payload(gen.status, gen.text, gen.finish_reason))

    sub: Subscription | None = None
    SSE_CONNECTIONS.inc()
    try:
        while len(turn.finished) < len(turn.gens):
            try:
                if sub is None:
                    sub = await state.relay.subscribe(turn.live_cursors())
                events = await sub.next(state.settings.sse_ping_s)
                if sub.lagging:
                    yield sse("status", {"type": "reconnect"})
                    return
                finals: dict[str, dict[str, Any]] = {}
                if not events:
                    # No news for a while: check the database in case the stream expired.
                    finals = await _final_states(state, [
                        turn.gens[s].id for s in turn.gens if s not in turn.finished])
                if not events and finals:
                    # Final in the database: the stream may still hold its last deltas
                    # (published just before the save). Send those first; the answer
                    # alone only when the stream has nothing more (expired, or lost).
                    events = await state.relay.read_now(
                        {g: turn.cursors[turn.side_of[g]] for g in finals})
            except Exception as exc:
                if not is_outage(exc):
                    raise
                # Redis or the database is away: keep the connection, say so, and try
                # again; the answer is persisted by the worker and arrives once they are
                # back.
                yield sse("status", {"type": "unavailable", "message": OUTAGE_MESSAGE})
                await asyncio.sleep(1.0)
                continue
            if not events:
                for generation_id, payload in finals.items():
                    side = turn.side_of[generation_id]
                    turn.finished.add(side)
                    yield turn.event(side, payload)
                yield ": ping\n\n"
                continue
            chunk: list[str] = []
            for generation_id, side_batch in by_stream(events).items():
                side = turn.side_of.get(generation_id)
                if side is None or side in turn.finished:
                    continue
                chunk += await turn.side_events(side, side_batch)
            if chunk:
                yield "".join(chunk)
    finally:
        SSE_CONNECTIONS.dec()
        if sub is not None:
            sub.close()

    yield sse("end", await _outcome(state, battle.id, turn_index), format_cursor(turn.cursors))
