"""The SSE relay: both sides of one turn over one connection.

Events are named "a" and "b" (never a model name). Each event's id is a cursor over both
generation streams ("a=<id>;b=<id>"), so a browser that reconnects with Last-Event-ID
resumes both sides exactly where it stopped and still ends with the complete answers.
Data: {"type": "delta"|"reset"|"snapshot"|"done"|"error", ...}; a final "end" event tells
the page whether it may vote.
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
from app.web.outages import OUTAGE_MESSAGE, is_outage
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
    async with state.sessionmaker() as session:
        rows = await session.execute(
            select(Generation.id, Generation.status, Generation.text, Generation.finish_reason)
            .where(Generation.id.in_(ids), Generation.status.in_(("done", "failed")))
        )
        return {str(i): _final_payload(s, t, f) for i, s, t, f in rows}


async def _outcome(state: ArenaState, battle_id: Any, turn_index: int) -> dict[str, bool]:
    async with state.sessionmaker() as session:
        battle = await load_battle(session, battle_id)
    if battle is None:
        return {"can_vote": False, "failed": True}
    failed = any(g.status == "failed" for g in battle.turns[turn_index].generations)
    # Only the latest turn's stream may offer the vote; the rule itself is the arena's.
    can_vote = turn_index == len(battle.turns) - 1 and vote_allowed(battle)
    return {"can_vote": can_vote, "failed": failed}


async def relay_turn(
    state: ArenaState, request: Request, battle: Battle, turn_index: int, last_event_id: str | None
) -> AsyncIterator[str]:
    turn = battle.turns[turn_index]
    gens = {g.side: g for g in turn.generations}
    by_id = {str(g.id): g.side for g in gens.values()}
    cursors = {s: "0-0" for s in gens} | parse_cursor(last_event_id)
    finished: set[str] = set()
    yield "retry: 1000\n\n"

    # Sides already finished in the database are sent whole: that needs no stream history.
    for side, gen in gens.items():
        if gen.status in ("done", "failed"):
            finished.add(side)
            yield sse(side, _final_payload(gen.status, gen.text, gen.finish_reason),
                      format_cursor(cursors))

    filters = {s: SideFilter() for s in gens}
    while len(finished) < len(gens):
        if await request.is_disconnected():
            return
        pending = {str(g.id): cursors[s] for s, g in gens.items() if s not in finished}
        finals: dict[str, dict[str, Any]] = {}
        try:
            events = await state.queue.read(
                pending, block_ms=int(state.settings.sse_ping_s * 1000))
            if not events:
                # No news for a while: check the database in case the stream expired.
                finals = await _final_states(state, [g.id for s, g in gens.items()
                                                     if s not in finished])
        except Exception as exc:
            if not is_outage(exc):
                raise
            # Redis or the database is away: keep the connection, say so, and try again;
            # the answer is persisted by the worker and arrives once they are back.
            yield sse("status", {"type": "unavailable", "message": OUTAGE_MESSAGE})
            await asyncio.sleep(1.0)
            continue
        if not events and finals:
            # Final in the database: the stream may still hold its last deltas (they were
            # published just before the save). Send those first; the answer alone only when
            # the stream has nothing more (it expired, or Redis lost it).
            try:
                events = await state.queue.read(
                    {g: cursors[by_id[g]] for g in finals}, block_ms=0)
            except Exception as exc:
                if not is_outage(exc):
                    raise
                events = []
        if not events:
            for generation_id, payload in finals.items():
                finished.add(by_id[generation_id])
                yield sse(by_id[generation_id], payload, format_cursor(cursors))
            yield ": ping\n\n"
            continue
        for event in events:
            side = by_id[event.generation_id]
            if side in finished:
                continue
            cursors[side] = event.id
            data = event.data
            if data.get("type") in TERMINAL:
                if int(data.get("attempt") or 0) < filters[side].attempt:
                    continue  # a superseded attempt's event
                finals = await _final_states(state, [gens[side].id])
                payload = finals.get(str(gens[side].id))
                if payload is None:
                    continue  # not final in the database (a stale event): keep reading
                finished.add(side)
                yield sse(side, payload, format_cursor(cursors))
                continue
            for shown in filters[side].accept(data):
                yield sse(side, shown, format_cursor(cursors))

    yield sse("end", await _outcome(state, battle.id, turn_index), format_cursor(cursors))
