"""A real Chromium (Debian's package) driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import missing_service

TINY_MODELS = ["tiny-alpha", "tiny-beta"]  # the test registry's models (tests/conftest.py)
CHROMIUM = os.environ.get("ARENA_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Module-scoped: Playwright's sync API keeps an event loop running in this thread
    while it is open, which would break every later test that runs asyncio."""
    if not Path(CHROMIUM).exists():
        missing_service("Chromium", "run scripts/browser.sh (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="session")
def tiny_site(models_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The embedded arena (web and workers in one process) on the two tiny test models.
    One for the whole run (its start is most of a browser test's time): every page is a
    new browser context, so a new visitor, and a test reads back only its own battles."""
    from tests.arena.stack import embedded_stack

    s = embedded_stack(models_file, tmp_path_factory.mktemp("tiny-site"))
    try:
        s.start_web("--embedded-workers")
        s.wait_models_online(TINY_MODELS)
        yield s
    finally:
        s.stop()


def arena_page(browser: Any, url: str) -> tuple[Any, list[str]]:
    """A new page on the arena with the terms accepted, and the list its script errors and
    failed requests are collected into (Chromium's own favicon request is no request of
    the page's and is not counted)."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(url + "/")
    page.check("input[name=accept]")
    page.click("#accept-terms")
    return page, errors
