"""A NUL character in any string a visitor sends gets an ordinary answer, never a 500
(PostgreSQL refuses NUL in text parameters; run with ARENA_TEST_API_STACK=services to
check that path)."""

from __future__ import annotations

import pytest

from tests.api.conftest import consented
from tests.arena.stack import ArenaStack

NUL = "%00"


@pytest.mark.parametrize("path", [
    f"/api/leaderboard?kind={NUL}",
    f"/api/leaderboard?slice=overall{NUL}",
    f"/leaderboard?kind=style&slice={NUL}",
    f"/api/images/{NUL}",
    f"/api/images/{'a' * 63}{NUL}",
    f"/api/battles/{NUL}",
    f"/api/battles/{NUL}/stream",
    f"/leaderboard/plots/{NUL}/ratings.svg",
    f"/admin/api/moderation?model={NUL}",
    f"/admin/api/audit?actor={NUL}",
    f"/admin/api/jobs?model={NUL}",
])
def test_nul_in_a_parameter_gets_a_clear_error_never_a_server_error(
    arena: ArenaStack, path: str
) -> None:
    """One rule for every route (app/web/main.py `refuse_nul`), checked before any query."""
    r = consented(arena.url).get(f"{arena.url}{path}", timeout=30)
    assert r.status_code == 422, r.text
    if "/api/" in path:
        assert r.json() == {"detail": "The address contains invalid characters."}
    else:
        assert "invalid characters" in r.text


def test_a_malformed_resume_cursor_is_ignored_not_a_broken_stream() -> None:
    from app.web.stream import parse_cursor

    assert parse_cursor("a=1-2;b=17") == {"a": "1-2", "b": "17"}
    for bad in ("a=-", "a=1-2-3", "a=\u00b2", "a=1-", "a=x", "c=1-2", "a=" + "9" * 30):
        assert parse_cursor(bad) == {}, bad
