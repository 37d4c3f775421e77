"""The moderation flow in a real Chromium against a real uvicorn: log in, open the queue,
unblur a thumbnail, remove a battle, find the removal in the audit log. Hostile text in
the battle must not run."""

from __future__ import annotations

from typing import Any

import pytest

from app.storage.blobs import LocalBlobStore
from tests.admin.conftest import MODELS, run_db
from tests.admin.seed import add_battle, add_user

pytestmark = pytest.mark.browser

XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


def test_login_unblur_remove_and_audit(admin_server: Any, admin_pg_url: str, page: Any) -> None:
    blobs = LocalBlobStore(admin_server.data_dir / "blobs")

    async def seed(sm: Any) -> tuple[str, str, str]:
        username, password = await add_user(sm, "moderator")
        battle_id = await add_battle(sm, blobs, models=MODELS, prompt=f"Look {XSS}",
                                     answers=(f"Answer {XSS}", "Fine."), color=(250, 0, 0))
        return username, password, battle_id

    username, password, battle_id = run_db(admin_pg_url, seed)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    page.goto(f"{admin_server.url}/admin/moderation")
    assert "/admin/login" in page.url  # no session: sent to the login form
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/moderation")

    card = page.locator(f"#battle-{battle_id}")
    card.wait_for()
    thumb = card.locator("img.thumb")
    thumb.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=thumb.element_handle())
    assert "blur" in thumb.evaluate("el => getComputedStyle(el).filter")
    card.locator(".thumb-toggle").click()
    # After the CSS transition the image is shown unfiltered.
    page.wait_for_function("img => getComputedStyle(img).filter === 'none'",
                           arg=thumb.element_handle(), timeout=5000)
    assert "Look <img" in card.locator(".prompt .text").inner_text()  # shown as text

    card.locator("button.remove").click()
    page.locator(f"#battle-{battle_id}[data-status=removed]").wait_for()
    assert page.locator(f"#battle-{battle_id} button.restore").is_visible()

    # The audit log is admin-only: the moderator is refused, an admin sees the entry.
    response = page.goto(f"{admin_server.url}/admin/audit")
    assert response.status == 403 and page.locator("#audit").count() == 0

    async def make_admin(sm: Any) -> tuple[str, str]:
        return await add_user(sm, "admin")

    admin_name, admin_password = run_db(admin_pg_url, make_admin)
    page.goto(f"{admin_server.url}/admin/moderation")
    page.click("#logout")
    page.wait_for_url("**/admin/login")
    page.goto(f"{admin_server.url}/admin/login?next=/admin/audit")
    page.fill("input[name=username]", admin_name)
    page.fill("input[name=password]", admin_password)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/audit")
    row = page.locator("tr.audit-row[data-action='battle.remove']",
                       has_text=f"battle:{battle_id}")
    row.wait_for()
    assert username in row.inner_text()
    assert '"removed": true' in row.inner_text()

    assert dialogs == []
    assert page.evaluate("window.__xss") is None
