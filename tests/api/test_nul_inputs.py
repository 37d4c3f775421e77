"""A NUL character in any string a visitor sends gets an ordinary answer, never a 500
(PostgreSQL refuses NUL in text parameters; run with ARENA_TEST_API_STACK=services to
check that path)."""

from __future__ import annotations

import pytest

from tests.api.conftest import consented
from tests.arena.stack import ArenaStack

NUL = "%00"


@pytest.mark.parametrize(("path", "expected"), [
    (f"/api/leaderboard?kind={NUL}", 200),
    (f"/api/leaderboard?slice=overall{NUL}", 200),
    (f"/leaderboard?kind=style&slice={NUL}", 200),
    (f"/api/images/{NUL}", 404),
    (f"/api/images/{'a' * 63}{NUL}", 404),
    (f"/api/battles/{NUL}", 404),
    (f"/api/battles/{NUL}/stream", 404),
    (f"/leaderboard/plots/{NUL}/ratings.svg", 404),
])
def test_nul_in_a_parameter_is_not_a_server_error(
    arena: ArenaStack, path: str, expected: int
) -> None:
    r = consented(arena.url).get(f"{arena.url}{path}", timeout=30)
    assert r.status_code == expected, r.text
    if path.startswith("/api/leaderboard"):
        assert r.json()["snapshot"] is None

