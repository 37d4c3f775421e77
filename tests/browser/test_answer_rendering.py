"""Answers render as the models mean them, in a real browser (uvicorn, embedded workers,
Chromium) with models whose answers the test writes: code is highlighted, LaTeX is typeset
as MathML, a long answer scrolls inside its pane, each answer has a copy button, and a
hostile answer (script, event handlers, javascript: links, iframe, SVG, style, LaTeX
injection) executes nothing and requests nothing, streamed or reloaded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.arena.stack import ArenaStack, png_bytes
from tests.browser.scripted_models import ScriptedModels, scripted_site

pytestmark = pytest.mark.browser

HOSTILE = r"""Here is the code:

```python
def area(r):
    return 3.14 * r ** 2  # a circle
```

The area grows as $x^2$, and a ratio is $$\frac{a}{b}$$ here.

<script>window.__pwned = 'script'; fetch('/pwned/script')</script>
<img src="/pwned/img" onerror="window.__pwned='img'">
<iframe src="/pwned/iframe"></iframe>
<svg onload="window.__pwned='svg'"><image href="/pwned/svg"/></svg>
<style>body { background: url(/pwned/style) }</style>
<a href="javascript:window.__pwned='a'">raw link</a> <b onmouseover="window.__pwned='b'">bold</b>

[click me](javascript:window.__pwned='md') and ![pic](javascript:window.__pwned='mdimg')

$\href{javascript:window.__pwned='href'}{math link}$ and
$\style{background:url(/pwned/mathstyle)}{y}$

$\text{<img src=/pwned/mtext onerror=window.__pwned='mtext'>}$

<math><mtext><table><mglyph><style><img src=/pwned/mxss onerror="window.__pwned='mxss'">
"""

LONG = "\n\n".join(f"Line {i}: the square is red." for i in range(1, 121))
COPY = "Copy **this**: `x = 1` and $y^2$."


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ArenaStack, ScriptedModels]]:
    with scripted_site(tmp_path_factory.mktemp("render-site")) as (stack, models):
        models.answers.update({"hostile": HOSTILE, "long": LONG, "copy": COPY})
        yield stack, models


@pytest.fixture
def page(browser, site):  # type: ignore[no-untyped-def]
    stack, _ = site
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.url)
    p = context.new_page()
    p.goto(stack.url + "/")
    p.check("input[name=accept]")
    p.click("#accept-terms")
    p.wait_for_selector("#new-battle")
    yield p
    context.close()


def battle(page, tmp_path: Path, question: str) -> None:  # type: ignore[no-untyped-def]
    image = tmp_path / "red.png"
    image.write_bytes(png_bytes((220, 30, 30), (64, 64)))
    page.set_input_files("input[name=image]", str(image))
    page.fill("textarea[name=prompt]", question)
    page.click("#send")
    page.wait_for_selector("section.battle[data-ended='1']", timeout=60_000)


def check_rendering(page) -> None:  # type: ignore[no-untyped-def]
    for side in "ab":
        answer = page.locator(f'.pane[data-side="{side}"] .answer')
        keyword = answer.locator("pre code.language-python span.k").first
        assert keyword.inner_text() == "def"
        assert keyword.evaluate("e => getComputedStyle(e).color") == "rgb(0, 128, 0)"
        # $x^2$ is typeset: the 2 sits higher and smaller than the x.
        sup = answer.locator('math[display="inline"] msup').first
        base = sup.locator("mi").bounding_box()
        power = sup.locator("mn").bounding_box()
        assert base and power and power["y"] < base["y"] - 2 and power["x"] > base["x"]
        sizes = [
            sup.locator(t).evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
            for t in ("mi", "mn")
        ]
        assert sizes[1] < sizes[0], sizes
        # $$\frac{a}{b}$$ is a displayed fraction: a above b.
        frac = answer.locator('math[display="block"] mfrac').first
        num, den = (frac.locator("mi").nth(i).bounding_box() for i in (0, 1))
        assert num and den and num["y"] + num["height"] <= den["y"] + 1
        # The hostile parts are there as text, and nothing active came through.
        text = answer.inner_text()
        assert "<script>" in text and "click me" in text
        assert "mathlink" in answer.evaluate("e => e.textContent.replace(/\\s/g, '')")
        assert answer.locator("script, iframe, img, svg, style, object, embed").count() == 0
        assert answer.locator("a").count() == 0
        assert (
            answer.evaluate(
                "e => [...e.querySelectorAll('*')].flatMap(n => [...n.attributes])"
                ".filter(a => /^on|^style$|^href$|^src$/i.test(a.name)).length"
            )
            == 0
        )


def poke(page) -> None:  # type: ignore[no-untyped-def]
    """Click and hover what a hostile answer would want clicked."""
    for label in ("click me", "raw link", "bold"):
        for el in page.locator(".answer", has_text=label).all():
            el.get_by_text(label).first.click()
            el.get_by_text(label).first.hover()
    for math in page.locator(".answer math").all():  # \href{javascript:…}{math link} too
        math.click()
    page.wait_for_timeout(500)


def test_hostile_answer_is_inert_and_rendered(page, site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    stack, _ = site
    pwned: list[str] = []
    page.on("request", lambda r: pwned.append(r.url) if "pwned" in r.url else None)
    page.on("dialog", lambda d: (pwned.append("dialog " + d.message), d.dismiss()))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    battle(page, tmp_path, "hostile")  # the answer arrives through the stream
    check_rendering(page)
    poke(page)
    page.screenshot(path=str(tmp_path / "rendered-answer.png"), full_page=True)
    assert page.evaluate("window.__pwned") is None and pwned == [], pwned

    page.reload()  # the same answer rendered by the page template
    page.wait_for_selector('.pane[data-side="b"] .answer[data-status="done"]')
    check_rendering(page)
    poke(page)
    assert page.evaluate("window.__pwned") is None and pwned == [], pwned
    assert errors == []


def test_long_answer_scrolls_inside_its_pane(page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    battle(page, tmp_path, "long")
    answer = page.locator('.pane[data-side="a"] .answer')
    size = answer.evaluate("e => [e.clientHeight, e.scrollHeight]")
    assert size[0] <= 600 and size[1] > 3 * size[0], size
    assert answer.get_attribute("tabindex") == "0"  # reachable, scrollable by keyboard
    answer.focus()
    page.keyboard.press("End")
    page.wait_for_timeout(300)
    assert answer.evaluate("e => e.scrollTop") > 0
    vote_box = page.locator(".votes").bounding_box()
    assert vote_box and vote_box["y"] < 1400  # the vote buttons stay near, not 120 lines down


def test_copy_button_copies_the_answer_source(page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    battle(page, tmp_path, "copy")
    for side in "ab":
        button = page.locator(f'.pane[data-side="{side}"] .copy-answer')
        assert button.is_visible() and button.get_attribute("aria-label") == (
            f"Copy answer {side.upper()}"
        )
        button.click()
        page.wait_for_function("b => b.textContent === 'Copied'", arg=button.element_handle())
        assert page.evaluate("navigator.clipboard.readText()") == COPY
    page.reload()  # from the template, the source travels in the page too
    page.locator('.pane[data-side="a"] .copy-answer').click()
    page.wait_for_timeout(200)
    assert page.evaluate("navigator.clipboard.readText()") == COPY
