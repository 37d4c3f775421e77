"""Keyboard voting in a real browser (uvicorn, embedded workers, Chromium): the keys are
shown, each one casts its vote once both answers finished, typing in a field never votes,
and after the vote each side shows its time to first token and tokens/s. The reasons
form works from the page too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.arena.stack import ArenaStack, png_bytes
from tests.browser.conftest import arena_page

pytestmark = pytest.mark.browser
KEYS = [
    ("ArrowLeft", "A is better"),
    ("ArrowRight", "B is better"),
    ("t", "Tie"),
    ("b", "Both are bad"),
]


def test_keyboard_votes_and_timings(browser, tiny_site: ArenaStack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image = tmp_path / "blue.png"
    image.write_bytes(png_bytes((30, 60, 220), (96, 96)))
    page, errors = arena_page(browser, tiny_site.url)

    for k, (key, label) in enumerate(KEYS):
        page.wait_for_selector("#new-battle")
        page.set_input_files("input[name=image]", str(image))
        page.fill("textarea[name=prompt]", f"What colour is it? ({k})")
        page.click("#send")
        page.wait_for_selector("section.battle[data-ended='1']", timeout=90_000)
        hint = page.locator(".key-hint")
        assert hint.is_visible() and "←" in hint.inner_text() and "→" in hint.inner_text()
        assert page.locator(f'button.vote[data-key="{key}"] kbd').is_visible()

        # Typing in the follow-up box is typing, not voting.
        page.focus(".follow-up input[name=prompt]")
        page.keyboard.press(key)
        page.wait_for_timeout(300)
        assert page.locator(".reveal").count() == 0
        page.locator(".follow-up input[name=prompt]").evaluate("el => el.blur()")

        page.keyboard.press(key)
        page.wait_for_selector(".reveal")
        assert f"You voted: {label}" in page.inner_text(".reveal")
        for side in "ab":
            timing = page.inner_text(f'.pane[data-side="{side}"] .timing')
            assert re.search(r"first token \d+ ms · [\d.]+ tokens/s", timing), timing
        if k == 0:
            page.screenshot(path=str(tmp_path / "keyboard-vote.png"))  # the test's artefact
            page.check('.reason-tags[data-side="a"] input[value="correct"]')
            page.check('.reason-tags[data-side="b"] input[value="too_long"]')
            page.fill(".reasons input[name=comment]", "<i>short</i> and right")
            page.click("#send-reasons")
            page.wait_for_selector("#reasons-given")
            given = page.inner_text("#reasons-given")
            assert "Correct" in given and "Too long" in given and "<i>short</i>" in given
            page.keyboard.press("ArrowRight")  # the vote is cast: keys do nothing now
            page.wait_for_timeout(200)
            assert f"You voted: {label}" in page.inner_text(".reveal")
        page.click("#new-battle-link")
    assert errors == []
    page.close()
