"""The moderation flow in a real Chromium against a real uvicorn: log in, open the queue,
unblur a thumbnail, remove a battle, find the removal in the audit log. Hostile text in
the battle must not run."""

from __future__ import annotations

from typing import Any

import pytest

from app.storage.blobs import LocalBlobStore
from tests.admin.conftest import MODELS
from tests.admin.seed import add_battle, add_user

pytestmark = pytest.mark.browser

XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


async def log_in(page: Any, url: str, username: str, password: str) -> None:
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(url)


async def test_login_unblur_remove_and_audit(admin_server: Any, sm: Any, page: Any) -> None:
    blobs = LocalBlobStore(admin_server.data_dir / "blobs")  # the server's own blob store
    username, password = await add_user(sm, "moderator")
    battle_id = await add_battle(sm, blobs, models=MODELS, prompt=f"Look {XSS}",
                                 answers=(f"Answer {XSS}", "Fine."), color=(250, 0, 0))
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    base = admin_server.url

    await page.goto(f"{base}/admin/moderation")
    assert "/admin/login" in page.url  # no session: sent to the login form
    await log_in(page, f"{base}/admin/moderation", username, password)

    card = page.locator(f"#battle-{battle_id}")
    thumb = card.locator("img.thumb")
    await thumb.wait_for()
    handle = await thumb.element_handle()
    await page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=handle)
    assert "blur" in await thumb.evaluate("el => getComputedStyle(el).filter")
    await card.locator(".thumb-toggle").click()
    # After the CSS transition the image is shown unfiltered.
    await page.wait_for_function("img => getComputedStyle(img).filter === 'none'", arg=handle)
    assert "Look <img" in await card.locator(".prompt .text").inner_text()  # shown as text

    await card.locator("button.remove").click()
    await page.locator(f"#battle-{battle_id}[data-status=removed]").wait_for()
    assert await page.locator(f"#battle-{battle_id} button.restore").is_visible()

    # The audit log is admin-only: the moderator is refused, an admin sees the entry.
    response = await page.goto(f"{base}/admin/audit")
    assert response.status == 403 and await page.locator("#audit").count() == 0
    admin_name, admin_password = await add_user(sm, "admin")
    await page.goto(f"{base}/admin/moderation")
    await page.click("#logout")
    await page.wait_for_url(f"{base}/admin/login")
    await page.goto(f"{base}/admin/login?next=/admin/audit")
    await log_in(page, f"{base}/admin/audit", admin_name, admin_password)
    row = page.locator("tr.audit-row[data-action='battle.remove']",
                       has_text=f"battle:{battle_id}")
    await row.wait_for()
    text = await row.inner_text()
    assert username in text and '"removed": true' in text

    assert dialogs == []
    assert await page.evaluate("window.__xss") is None
