"""Moderation queue and operations pages against the real database and in-process queue."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select, update

from app.db.admin_tables import AuditLog
from app.db.models import Battle, ModelEntry, utcnow
from app.queue.base import WorkerInfo
from tests.admin.conftest import MODELS
from tests.admin.seed import FLAGGED, add_battle, add_model

PII_FLAG = {**FLAGGED, "reasons": ["pii"], "scores": {"pii": 0.9, "abuse": 0.01}}


async def test_queue_filters_by_reason_model_and_date(staff_login: Any, sm: Any,
                                                      blobs: Any) -> None:
    await add_model(sm, "gamma-vlm")
    old = utcnow() - timedelta(days=40)
    nsfw = await add_battle(sm, blobs, models=MODELS)
    pii = await add_battle(sm, blobs, models=("gamma-vlm", MODELS[0]), moderation={
        "image": FLAGGED | {"reasons": [], "decision": "allow"}, "prompt": PII_FLAG})
    ancient = await add_battle(sm, blobs, models=MODELS, created_at=old)
    clean = await add_battle(sm, blobs, models=MODELS, review_status="none", moderation={})
    mod = await staff_login("moderator", shared_account=True)

    async def ids(**params: str) -> set[str]:
        r = await mod.client.get("/admin/api/moderation", params={"limit": "200", **params})
        assert r.status_code == 200, r.text
        return {item["id"] for item in r.json()}

    everything = await ids()
    assert {nsfw, pii, ancient} <= everything and clean not in everything
    assert pii in await ids(reason="pii") and nsfw not in await ids(reason="pii")
    assert nsfw in await ids(reason="nsfw") and pii not in await ids(reason="nsfw")
    assert pii in await ids(model="gamma-vlm") and nsfw not in await ids(model="gamma-vlm")
    recent = await ids(since=(date.today() - timedelta(days=7)).isoformat())
    assert nsfw in recent and ancient not in recent
    assert ancient in await ids(until=(old.date() + timedelta(days=1)).isoformat())
    item = next(i for i in (await mod.client.get("/admin/api/moderation",
                                                 params={"reason": "pii"})).json()
                if i["id"] == pii)
    assert item["scores"]["prompt.pii"] == 0.9 and item["reasons"] == ["pii"]

    page = (await mod.client.get("/admin/moderation", params={"reason": "pii"})).text
    assert f'id="battle-{pii}"' in page and "prompt.pii" in page and "thumb blurred" in page
    r = await mod.client.get("/admin/moderation", params={"since": "yesterday"})
    assert r.status_code == 422


async def test_approve_remove_restore_are_audited(staff_login: Any, sm: Any, blobs: Any) -> None:
    battle_id = await add_battle(sm, blobs, models=MODELS)
    mod = await staff_login("moderator", shared_account=True)
    expected = {"approve": ("approved", False), "remove": ("removed", True),
                "restore": ("approved", False)}
    for action, (status, removed) in expected.items():
        r = await mod.client.post(f"/admin/moderation/{battle_id}/{action}",
                                  headers={**mod.headers, "HX-Request": "true"})
        assert r.status_code == 200, r.text
        assert f'data-status="{status}"' in r.text  # the card htmx swaps in
        async with sm() as s:
            b = await s.get(Battle, uuid.UUID(battle_id))
            assert (b.review_status, b.removed) == (status, removed)
    async with sm() as s:
        log = (await s.scalars(select(AuditLog).where(
            AuditLog.target == f"battle:{battle_id}").order_by(AuditLog.at))).all()
    assert [(e.actor, e.action, e.before["review_status"], e.after["review_status"])
            for e in log] == [
        (mod.username, "battle.approve", "review", "approved"),
        (mod.username, "battle.remove", "approved", "removed"),
        (mod.username, "battle.restore", "removed", "approved"),
    ]
    r = await mod.client.post(f"/admin/api/moderation/{uuid.uuid4()}/remove",
                              headers=mod.headers)
    assert r.status_code == 404


async def test_images_only_for_staff(admin_app: Any, staff_login: Any, sm: Any,
                                     blobs: Any) -> None:
    battle_id = await add_battle(sm, blobs, models=MODELS)
    async with sm() as s:
        sha = (await s.get(Battle, uuid.UUID(battle_id))).image_sha256
    mod = await staff_login("moderator", shared_account=True)
    r = await mod.client.get(f"/admin/images/{sha}")
    assert r.status_code == 200 and r.content == await blobs.get(sha)
    assert r.headers["cache-control"] == "private, no-store"
    async with sm() as s:  # removed by a moderator: still reviewable
        await s.execute(update(Battle).where(Battle.id == uuid.UUID(battle_id))
                        .values(removed=True, review_status="removed"))
        await s.commit()
    assert (await mod.client.get(f"/admin/images/{sha}")).status_code == 200
    async with sm() as s:  # deleted by its owner: gone for staff too
        await s.execute(update(Battle).where(Battle.id == uuid.UUID(battle_id))
                        .values(deleted_at=utcnow()))
        await s.commit()
    r = await mod.client.get(f"/admin/images/{sha}")
    assert r.status_code == 404 and r.content != await blobs.get(sha)


async def test_models_page_switches_and_live_numbers(admin_app: Any, staff_login: Any,
                                                     sm: Any, blobs: Any) -> None:
    admin = await staff_login("admin", shared_account=True)
    queue = admin_app.state.arena.queue
    await queue.heartbeat(WorkerInfo(worker_id="w1", model=MODELS[0], in_flight=3,
                                     concurrency=8, tokens_per_s=42.5, ttft_ms=120.0), 60)
    await queue.enqueue(MODELS[0], str(uuid.uuid4()))
    await add_battle(sm, blobs, models=MODELS, status_b="failed")  # an error just now

    rows = {m["name"]: m for m in (await admin.client.get("/admin/api/models")).json()}
    alpha, beta = rows[MODELS[0]], rows[MODELS[1]]
    assert (alpha["live_workers"], alpha["in_flight"], alpha["tokens_per_s"],
            alpha["ttft_ms"]) == (1, 3, 42.5, 120.0)
    assert alpha["queue_depth"] >= 1 and beta["live_workers"] == 0
    assert beta["errors_last_hour"] >= 1
    live = (await admin.client.get("/admin/models/live")).text
    assert 'hx-trigger="every 5s"' in live and "42.5" in live

    r = await admin.client.post(f"/admin/models/{MODELS[1]}", headers=admin.headers,
                                data={"weight": "2.5", "outage": "on"})
    assert r.status_code == 200, r.text
    async with sm() as s:
        m = await s.get(ModelEntry, MODELS[1])
        assert (m.enabled, m.weight, m.outage) == (False, 2.5, True)
        entry = await s.scalar(select(AuditLog).where(
            AuditLog.target == f"model:{MODELS[1]}").order_by(AuditLog.at.desc()))
    assert entry.actor == admin.username and entry.after == {
        "enabled": False, "weight": 2.5, "outage": True}
    r = await admin.client.post(f"/admin/api/models/{MODELS[1]}", headers=admin.headers,
                                json={"enabled": True, "outage": False, "weight": -1})
    assert r.status_code == 422
    r = await admin.client.post(f"/admin/api/models/{MODELS[1]}", headers=admin.headers,
                                json={"enabled": True, "outage": False, "weight": 1})
    assert r.json() == {"enabled": True, "weight": 1.0, "outage": False}


async def test_overview_counts_charts_disk_and_leaderboard(staff_login: Any, sm: Any,
                                                           blobs: Any) -> None:
    from app.db.leaderboard_tables import ExportRun

    mod = await staff_login("moderator", shared_account=True)
    before = (await mod.client.get("/admin/api/overview")).json()
    await add_battle(sm, blobs, models=MODELS, winner="model_a", vote_delay_s=1,
                     created_at=utcnow() - timedelta(minutes=1))
    after = (await mod.client.get("/admin/api/overview")).json()
    assert after["activity"]["battles_total"][-1] == before["activity"]["battles_total"][-1] + 1
    assert after["activity"]["votes_total"][-1] == before["activity"]["votes_total"][-1] + 1
    assert after["activity"]["votes"][MODELS[0]][-1] >= 1
    assert after["disk_bytes"] > before["disk_bytes"] > 0
    for kind in ("battles", "votes"):
        r = await mod.client.get(f"/admin/charts/{kind}.svg")
        assert r.headers["content-type"] == "image/svg+xml" and b"<svg" in r.content

    async with sm() as s:
        s.add(ExportRun(date=date(2026, 1, 2), status="failed", owner="t",
                        error="disk full <b>", started_at=utcnow()))
        await s.commit()
    page = (await mod.client.get("/admin/")).text
    assert "2026-01-02" in page and "status-failed" in page and "disk full &lt;b&gt;" in page
