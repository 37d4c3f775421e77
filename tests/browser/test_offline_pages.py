"""With the network cut off (only the arena itself is reachable), the API docs render their
operations and the pages a newcomer opens first show no console error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.arena.stack import ArenaStack, embedded_stack

pytestmark = pytest.mark.browser

PAGES = ["/", "/leaderboard", "/compare", "/chat", "/admin/login", "/docs", "/redoc"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArenaStack]:
    """`arena serve` with a registry nothing loads: the pages, not the models, are tested."""
    data = tmp_path_factory.mktemp("offline-site")
    registry = data / "models.yaml"
    registry.write_text(
        yaml.safe_dump(
            {
                "models": [
                    {"name": "remote-vlm", "backend": "openai", "path": "http://127.0.0.1:9/v1"},
                ]
            }
        )
    )
    s = embedded_stack(registry, data, ARENA_MODERATION_ENABLED="false")
    try:
        s.start_web()
        yield s
    finally:
        s.stop()


@pytest.fixture
def offline_page(browser, site: ArenaStack) -> Iterator[tuple[object, list[str], list[str]]]:  # type: ignore[no-untyped-def]
    """A page whose every request off the arena's origin is refused (and recorded), with
    the console errors and page errors it logs."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    outside: list[str] = []
    errors: list[str] = []

    def gate(route) -> None:  # type: ignore[no-untyped-def]
        if route.request.url.startswith(site.url + "/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", gate)
    page = context.new_page()
    page.on(
        "console", lambda m: errors.append(f"{m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    try:
        yield page, outside, errors
    finally:
        context.close()


def test_swagger_ui_renders_the_operations_offline(
    offline_page,
    site: ArenaStack,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    page, outside, errors = offline_page
    page.goto(site.url + "/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/battles" in paths and "/api/leaderboard" in paths, paths
    page.screenshot(path=str(tmp_path / "docs.png"))
    assert outside == [] and errors == [], (outside, errors)


def test_redoc_renders_the_operations_offline(
    offline_page,
    site: ArenaStack,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    page, outside, errors = offline_page
    page.goto(site.url + "/redoc")
    page.wait_for_selector("[data-section-id^='operation/']", timeout=30_000)
    assert page.locator("[data-section-id^='operation/']").count() >= 8
    assert "/api/battles" in page.content()
    page.screenshot(path=str(tmp_path / "redoc.png"))
    assert outside == [] and errors == [], (outside, errors)


def test_first_pages_have_no_console_error_offline(offline_page, site: ArenaStack) -> None:  # type: ignore[no-untyped-def]
    page, outside, errors = offline_page
    for path in PAGES:
        response = page.goto(site.url + path)
        assert response is not None and response.status == 200, path
        page.wait_for_load_state("networkidle")
    assert outside == [] and errors == [], (outside, errors)
