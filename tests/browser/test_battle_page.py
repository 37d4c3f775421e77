"""A person's battle in a real browser: terms, upload, both answers stream, vote, reveal."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.arena.stack import ArenaStack, png_bytes
from tests.browser.conftest import TINY_MODELS

pytestmark = pytest.mark.browser


@pytest.fixture
def image_file(tmp_path: Path) -> Path:
    path = tmp_path / "red-square.png"
    path.write_bytes(png_bytes((220, 40, 40), (96, 96)))
    return path


def test_battle_in_the_browser(browser, tiny_site: ArenaStack, image_file: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(tiny_site.url + "/")

    # The terms gate comes first; its acceptance is recorded.
    assert "Before you start" in page.content()
    page.check("input[name=accept]")
    page.click("#accept-terms")
    page.wait_for_selector("#new-battle")

    page.set_input_files("input[name=image]", str(image_file))
    page.fill("textarea[name=prompt]", "What colour is <b>this</b> <img src=x onerror=alert(1)>?")
    votes = page.locator("button.vote")
    held: list = []  # the answer stream waits here until the buttons have been checked
    page.route("**/stream?*", lambda route: held.append(route))
    page.click("#send")
    page.wait_for_selector("section.battle")
    while not held:
        page.wait_for_timeout(50)
    assert all(votes.nth(i).is_disabled() for i in range(4))  # not before both finished
    held[0].continue_()
    page.unroute("**/stream?*")
    page.wait_for_selector("section.battle[data-ended='1']", timeout=90_000)
    assert all(votes.nth(i).is_enabled() for i in range(4))
    for side in "ab":
        answer = page.locator(f'.pane[data-side="{side}"] .answer')
        assert answer.get_attribute("data-status") == "done"
        assert answer.inner_text().strip() != ""

    # The prompt is shown back as text, never as markup.
    question = page.locator(".question").first
    assert "<img src=x onerror=alert(1)>" in question.inner_text()
    assert question.locator("img").count() == 0 and dialogs == []

    html = page.content()
    for name in TINY_MODELS:
        assert name not in html  # anonymous until the vote
    assert "/battle/" in page.url  # the URL survives a reload
    page.screenshot(path=str(image_file.parent / "battle.png"))  # kept with the test's files

    page.reload()
    page.wait_for_selector("section.battle")
    assert page.locator("button.vote").first.is_enabled()

    page.click("button.vote[value=model_a]")
    page.wait_for_selector(".reveal")
    revealed = {page.inner_text(".reveal-a"), page.inner_text(".reveal-b")}
    assert revealed == set(TINY_MODELS)
    page.click("#new-battle-link")
    page.wait_for_selector("#new-battle")
    page.close()


def test_page_shows_a_readable_error_for_a_bad_upload(
    browser, tiny_site: ArenaStack, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    page = browser.new_page()
    page.goto(tiny_site.url + "/")
    page.check("input[name=accept]")
    page.click("#accept-terms")
    bad = tmp_path / "notes.png"
    bad.write_text("definitely not an image")
    page.set_input_files("input[name=image]", str(bad))
    page.fill("textarea[name=prompt]", "What is this?")
    page.click("#send")
    page.wait_for_selector("#errors .error")
    assert "not an image" in page.inner_text("#errors")
    assert page.locator("section.battle").count() == 0
    page.close()
