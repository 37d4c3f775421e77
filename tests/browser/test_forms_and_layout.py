"""The form and the layout in a real browser (uvicorn, embedded workers, Chromium):

- an image dropped on the form, or pasted from the clipboard, is previewed and is the one
  the battle is created with (and the one the models were sent); the limits the form
  states are the settings that enforce them, and a file outside them is refused there;
- on a phone-sized screen the panes stack and no page is wider than the screen
  (screenshots are kept in the test's tmp folder);
- axe-core (the copy inside the `axe-playwright-python` wheel) finds no serious or critical
  accessibility violation on the public pages, and the form's focus order is the reading
  order.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import pytest
from PIL import Image

from app.storage.images import normalise_image
from tests.arena.stack import ArenaStack, png_bytes
from tests.browser.scripted_models import ScriptedModels, scripted_site

pytestmark = pytest.mark.browser

MAX_BYTES = 2 * 1024 * 1024  # set on the site: the form must say 2 MiB, not the default 10
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1200, "height": 900}

DROP = """([b64, name, type]) => {
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  const dt = new DataTransfer();
  dt.items.add(new File([bytes], name, {type}));
  const zone = document.getElementById('dropzone');
  for (const t of ['dragenter', 'dragover', 'drop'])
    zone.dispatchEvent(new DragEvent(t, {bubbles: true, cancelable: true, dataTransfer: dt}));
}"""
PASTE = """([b64, type]) => {
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  const dt = new DataTransfer();
  dt.items.add(new File([bytes], 'image.png', {type}));
  const box = document.querySelector('textarea[name=prompt]');
  box.focus();
  box.dispatchEvent(
    new ClipboardEvent('paste', {bubbles: true, cancelable: true, clipboardData: dt}));
}"""

PASTE_TEXT = """text => {
  const dt = new DataTransfer();
  dt.setData('text/plain', text);
  const box = document.querySelector('textarea[name=prompt]');
  box.dispatchEvent(
    new ClipboardEvent('paste', {bubbles: true, cancelable: true, clipboardData: dt}));
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ArenaStack, ScriptedModels]]:
    with scripted_site(
        tmp_path_factory.mktemp("forms-site"), ARENA_MAX_UPLOAD_BYTES=str(MAX_BYTES)
    ) as started:
        yield started


def new_page(browser, stack: ArenaStack, viewport: dict[str, int]):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(stack.url + "/")
    page.check("input[name=accept]")
    page.click("#accept-terms")
    page.wait_for_selector("#new-battle")
    return context, page, errors


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sent_colour(data_url: str) -> tuple[int, int, int]:
    raw = base64.b64decode(data_url.split(",", 1)[1])
    return Image.open(io.BytesIO(raw)).convert("RGB").getpixel((5, 5))


def send_and_check_image(page, models: ScriptedModels, image: bytes, question: str) -> None:  # type: ignore[no-untyped-def]
    before = len(models.images_sent())
    page.fill("textarea[name=prompt]", question)
    page.click("#send")
    page.wait_for_selector("section.battle[data-ended='1']", timeout=60_000)
    sha = normalise_image(image, max_pixels=40_000_000, max_side=1536).sha256
    assert page.get_attribute("img.upload", "src") == f"/api/images/{sha}"
    sent = models.images_sent()[before:]
    colour = Image.open(io.BytesIO(image)).convert("RGB").getpixel((5, 5))
    assert len(sent) == 2 and all(sent_colour(u) == colour for u in sent)


def check_preview(page, name: str, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    preview = page.locator("#image-preview")
    preview.wait_for(state="visible")
    img = preview.locator("img")
    assert img.get_attribute("src").startswith("blob:")
    page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=img.element_handle())
    assert img.evaluate("i => [i.naturalWidth, i.naturalHeight]") == list(size)
    assert name in preview.locator("figcaption").inner_text()
    assert page.locator("#image-error").is_hidden()


def test_drop_and_paste_preview_and_send_that_image(browser, site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    stack, models = site
    context, page, errors = new_page(browser, stack, DESKTOP)
    rules = page.inner_text("#image-rules")
    assert "JPEG, PNG, WebP or GIF" in rules and "2 MiB" in rules and "40 megapixels" in rules
    assert page.get_attribute("#image-input", "accept") == (
        "image/jpeg,image/png,image/webp,image/gif"
    )

    # Refused on the form: a type the arena does not take, and a file over the limit.
    page.evaluate(DROP, [b64(b"%PDF-1.4"), "doc.pdf", "application/pdf"])
    assert "not an accepted image" in page.inner_text("#image-error")
    assert page.locator("#image-preview").is_hidden()
    page.evaluate(DROP, [b64(b"\0" * (MAX_BYTES + 1)), "huge.png", "image/png"])
    assert "more than the 2.0 MiB allowed" in page.inner_text("#image-error")

    dropped = png_bytes((30, 160, 40), (80, 60))
    page.evaluate(DROP, [b64(dropped), "green.png", "image/png"])
    check_preview(page, "green.png", (80, 60))
    page.screenshot(path=str(tmp_path / "dropped-preview.png"))
    send_and_check_image(page, models, dropped, "What colour is the dropped image?")

    page.goto(stack.url + "/")
    page.wait_for_selector("#new-battle")
    pasted = png_bytes((40, 60, 210), (50, 70))
    page.evaluate(PASTE, [b64(pasted), "image/png"])
    check_preview(page, "image.png", (50, 70))
    page.fill("textarea[name=prompt]", "x")
    page.evaluate(PASTE_TEXT, "some text")  # pasting text leaves the image alone
    assert page.locator("#image-preview").is_visible()
    send_and_check_image(page, models, pasted, "What colour is the pasted image?")
    assert errors == []
    context.close()


def test_phone_layout_stacks_the_panes(browser, site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    stack, _ = site
    context, page, errors = new_page(browser, stack, PHONE)
    for path in ["/", "/compare", "/chat", "/leaderboard"]:
        page.goto(stack.url + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
        page.screenshot(
            path=str(tmp_path / f"phone{path.replace('/', '-') or '-'}.png"), full_page=True
        )
    page.goto(stack.url + "/")
    page.set_input_files(
        "input[name=image]",
        {"name": "red.png", "mimeType": "image/png", "buffer": png_bytes((200, 40, 40))},
    )
    page.fill("textarea[name=prompt]", "What is in the image?")
    page.click("#send")
    page.wait_for_selector("section.battle[data-ended='1']", timeout=60_000)
    a = page.locator('.pane[data-side="a"]').bounding_box()
    b = page.locator('.pane[data-side="b"]').bounding_box()
    assert a and b and b["y"] >= a["y"] + a["height"] and abs(a["x"] - b["x"]) < 1
    assert a["width"] > PHONE["width"] * 0.8
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(tmp_path / "phone-battle.png"), full_page=True)
    page.set_viewport_size(DESKTOP)  # a wide screen puts them side by side again
    a = page.locator('.pane[data-side="a"]').bounding_box()
    b = page.locator('.pane[data-side="b"]').bounding_box()
    assert a and b and abs(a["y"] - b["y"]) < 1 and b["x"] > a["x"] + a["width"]
    assert errors == []
    context.close()


AXE = files("axe_playwright_python").joinpath("axe.min.js").read_text()


def axe_violations(page) -> list[dict]:  # type: ignore[no-untyped-def]
    page.add_script_tag(content=AXE)
    result = page.evaluate("async () => JSON.stringify((await axe.run(document)).violations)")
    return [v for v in json.loads(result) if v["impact"] in ("serious", "critical")]


def describe(violations: list[dict]) -> str:
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(
            n["target"][0] if isinstance(n["target"][0], str) else str(n["target"])
            for n in v["nodes"][:5]
        )
        for v in violations
    )


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_public_pages_pass_axe(browser, site, viewport, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    stack, models = site
    models.answers["code"] = "Use this:\n\n```python\nprint('red')  # a colour\n```\n\nso $x^2$."
    context, page, errors = new_page(browser, stack, viewport)
    found: dict[str, str] = {}
    for path in ["/", "/compare", "/chat", "/leaderboard", "/terms"]:
        page.goto(stack.url + path)
        if bad := axe_violations(page):
            found[path] = describe(bad)
    page.goto(stack.url + "/")
    page.set_input_files(
        "input[name=image]",
        {"name": "red.png", "mimeType": "image/png", "buffer": png_bytes((200, 40, 40))},
    )
    page.fill("textarea[name=prompt]", "code")
    page.locator("#image-preview").wait_for(state="visible")
    if bad := axe_violations(page):  # the form with a preview shown
        found["/ (preview)"] = describe(bad)
    page.click("#send")
    page.wait_for_selector("section.battle[data-ended='1']", timeout=60_000)
    if bad := axe_violations(page):  # answers with highlighted code and math, vote buttons
        found["battle"] = describe(bad)
    page.keyboard.press("ArrowLeft")
    page.wait_for_selector(".reveal")
    page.reload()
    if bad := axe_violations(page):  # after the vote: names, timings, the reasons form
        found["battle (voted)"] = describe(bad)
    for _ in range(40):  # the board follows the vote within seconds (debounced recompute)
        page.goto(stack.url + "/leaderboard")
        if page.locator("table.lb-table").count():
            break
        page.wait_for_timeout(500)
    assert page.locator("table.lb-table").count(), "the leaderboard did not show the vote"
    if bad := axe_violations(page):  # ratings table, plots, reasons summary
        found["/leaderboard (votes)"] = describe(bad)
    assert found == {}, "\n".join(f"{k}:\n{v}" for k, v in found.items())
    assert errors == []
    context.close()


def test_focus_order_follows_the_form(browser, site) -> None:  # type: ignore[no-untyped-def]
    stack, _ = site
    context, page, _ = new_page(browser, stack, DESKTOP)
    page.goto(stack.url + "/")
    order = []
    for _ in range(30):
        page.keyboard.press("Tab")
        order.append(
            page.evaluate(
                "() => { const e = document.activeElement;"
                " return e.id || e.getAttribute('name') || e.textContent.trim(); }"
            )
        )
    nav = [order.index(x) for x in ("Battle", "Side-by-side", "Direct chat", "Leaderboard")]
    form = [order.index(x) for x in ("image-input", "prompt", "send")]
    assert nav == sorted(nav) and form == sorted(form) and max(nav) < min(form), order
    if "random-image" in order:
        assert order.index("random-image") > order.index("send")
    context.close()
