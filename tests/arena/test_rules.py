"""Pure rules: pair sampling, markdown sanitising, stream cursors, registry parsing."""

from __future__ import annotations

import random
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from app.arena.registry import RegistryError, load_registry
from app.arena.sampling import sample_pair
from app.web.render import render_markdown
from app.web.stream import format_cursor, parse_cursor


def test_sample_pair_follows_weights_and_randomises_sides() -> None:
    rng = random.Random(0)
    models = [("big", 3.0), ("mid", 1.0), ("small", 1.0), ("off", 0.0)]
    draws = [sample_pair(models, rng) for _ in range(20_000)]
    assert all(a != b for a, b in draws)
    seen = Counter(m for pair in draws for m in pair)
    assert "off" not in seen
    assert seen["big"] > 1.4 * seen["mid"]  # weight 3 vs 1 → drawn clearly more often
    left = Counter(a for a, _ in draws)
    for name in ("big", "mid", "small"):
        assert abs(left[name] / seen[name] - 0.5) < 0.03  # either side equally often
    with pytest.raises(ValueError):
        sample_pair([("only", 1.0), ("off", 0.0)], rng)


@pytest.mark.parametrize(
    "payload",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[click](javascript:alert(1))",
        '<a href="#" onclick="alert(1)">x</a>',
        "<iframe src=//evil></iframe>",
        "![x](javascript:alert(1))",
    ],
)
def test_markdown_renders_untrusted_text_inert(payload: str) -> None:
    html = render_markdown(f"**hi** {payload}")
    assert "<strong>hi</strong>" in html
    tags = parse_tags(html)
    assert {t for t, _ in tags} <= {"p", "strong", "a"}
    for _, attrs in tags:
        for name, value in attrs:
            assert not name.startswith("on")
            assert not (value or "").strip().lower().startswith("javascript:")


def parse_tags(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Every element the browser would build from this HTML (text is not an element)."""
    found: list[tuple[str, list[tuple[str, str | None]]]] = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, attrs))

    Collector().feed(html)
    return found


def test_markdown_keeps_useful_formatting() -> None:
    html = render_markdown("# Title\n\n- one\n- two\n\n`code` and [link](https://x.org)")
    assert "<h1>Title</h1>" in html and html.count("<li>") == 2
    assert '<a href="https://x.org" rel="nofollow noopener noreferrer">' in html


def test_cursor_round_trip_and_garbage() -> None:
    cursor = {"a": "1700000000000-3", "b": "1700000000001-0"}
    assert parse_cursor(format_cursor(cursor)) == cursor
    assert parse_cursor("a=1-0;b=evil');--;c=2-0") == {"a": "1-0"}
    assert parse_cursor(None) == {}


def test_registry_rejects_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("models:\n  - {name: a, backend: nope}\n")
    with pytest.raises(RegistryError, match="backend"):
        load_registry(path)
    path.write_text("models:\n  - {name: a, backend: vllm}\n  - {name: a, backend: vllm}\n")
    with pytest.raises(RegistryError, match="duplicate"):
        load_registry(path)
    path.write_text("models: [\n")
    with pytest.raises(RegistryError):
        load_registry(path)
    path.write_text("models:\n  - {name: m, backend: transformers, path: weights/m}\n")
    assert load_registry(path)[0].path == str(tmp_path / "weights" / "m")
