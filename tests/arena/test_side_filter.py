"""What the relay shows of one side's event stream (app/web/stream.py SideFilter)."""

from __future__ import annotations

from typing import Any

from app.web.stream import SideFilter


def _shown(events: list[dict[str, Any]]) -> list[str]:
    f = SideFilter()
    out = []
    for data in events:
        for shown in f.accept(data):
            out.append("RESET" if shown["type"] == "reset" else shown["text"])
    return out


def d(text: str, attempt: int, seq: int) -> dict[str, Any]:
    return {"type": "delta", "text": text, "attempt": attempt, "seq": seq}


def test_a_delta_published_twice_shows_once() -> None:
    assert _shown([d("He", 1, 1), d("llo", 1, 2), d("llo", 1, 2), d("!", 1, 3)]) == [
        "He", "llo", "!"]


def test_a_superseded_attempt_that_woke_up_late_shows_nothing() -> None:
    events = [d("old", 1, 1), {"type": "reset", "attempt": 2}, d("new", 2, 1),
              d(" stale", 1, 2), d(" text", 2, 2)]
    assert _shown(events) == ["old", "RESET", "new", " text"]


def test_joining_after_a_new_attempt_began_without_its_reset_clears_the_old_text() -> None:
    # A reconnect whose cursor skipped the reset, then a late delta of the old attempt.
    events = [d("old", 1, 5), d("new", 2, 3), d(" more", 2, 4), d("late", 1, 6)]
    assert _shown(events) == ["old", "RESET", "new", " more"]


def test_a_repeated_reset_does_not_clear_the_new_text() -> None:
    events = [{"type": "reset", "attempt": 2}, d("new", 2, 1),
              {"type": "reset", "attempt": 2}, d("!", 2, 2)]
    assert _shown(events) == ["RESET", "new", "!"]


def test_events_without_attempt_or_seq_still_show() -> None:
    """Streams written before deltas carried them (a rolling upgrade) keep working."""
    assert _shown([{"type": "delta", "text": "a"}, {"type": "delta", "text": "b"}]) == [
        "a", "b"]
