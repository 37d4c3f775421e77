"""Model lifecycle end to end on PostgreSQL: a model below the listing threshold is absent
from the public board (page and JSON) but present in admin; provisional and retired
badges render in Chromium; a retired model is never drawn and a testing one is boosted;
retiring is an admin action with an audit entry."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from app.admin.lifecycle import lifecycle_rows, set_retired
from app.arena.battles import choose_models
from app.arena.lifecycle import LifecycleRules, rules_from_settings
from app.config import Settings
from app.db.admin_tables import AuditLog
from app.db.models import ModelEntry
from app.leaderboard.compute import LeaderboardParams
from app.leaderboard.pipeline import run_leaderboard
from app.queue.base import WorkerInfo
from tests.admin.conftest import AdminServer, browser, chromium_path, login, page  # noqa: F401
from tests.admin.seed import add_user
from tests.conftest import free_port
from tests.leaderboard.conftest import asgi_client, running_app
from tests.leaderboard.simulate import (
    STRENGTHS,
    add_visitors,
    insert_battles,
    random_battles,
)

RULES = LifecycleRules(list_votes=50, provisional_votes=230, new_model_boost=3.0)
PARAMS = LeaderboardParams(n_bootstrap=50, min_slice_votes=10**9, lifecycle=RULES)
NEWCOMER, RETIRED = "delta-vl", "gamma-vl"


def test_states_weights_and_configured_defaults() -> None:
    assert [RULES.state(v, retired=False) for v in (0, 49, 50, 279, 280)] == [
        "testing", "testing", "provisional", "provisional", "listed"]
    assert RULES.state(10_000, retired=True) == "retired"
    assert RULES.sampling_weight(2.0, 10, retired=False) == 6.0  # boosted while testing
    assert RULES.sampling_weight(2.0, 60, retired=False) == 2.0
    assert RULES.sampling_weight(2.0, 60, retired=True) == 0.0
    secret = "lifecycle-secret-0123456789abcdef"
    prod = rules_from_settings(Settings(env="production", secret_key=secret,
                                        ip_hash_salt="lifecycle-salt-0123456789"))
    assert (prod.list_votes, prod.provisional_votes) == (1000, 1000)
    demo = rules_from_settings(Settings(env="demo"))
    assert (demo.list_votes, demo.provisional_votes) == (1, 20)
    set_ = rules_from_settings(Settings(lifecycle_list_votes=7, lifecycle_provisional_votes=3,
                                        lifecycle_new_model_boost=2.0))
    assert (set_.list_votes, set_.provisional_votes, set_.new_model_boost) == (7, 3, 2.0)
    from app.leaderboard.weighting import board_reweighting
    from app.ranking import NONE, PAIR_FREQUENCY

    assert board_reweighting(Settings()) == PAIR_FREQUENCY
    assert board_reweighting(Settings(), reweight=False) == NONE
    assert board_reweighting(Settings(adaptive_sampling=True)) == NONE  # see adaptive.py
    for bad in ({"list_votes": -1}, {"new_model_boost": 0.5}):
        with pytest.raises(ValueError):
            LifecycleRules(**bad)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
async def app(lb_pg_url: str, lb_models_file: Path,
              tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FastAPI]:
    """The app on the module's database; three strong models with ~270 votes each and a
    newcomer with 15; gamma retired; one leaderboard run with the lifecycle rules."""
    async with running_app(lb_pg_url, lb_models_file, tmp_path_factory.mktemp("lc"),
                           "lifecycle", live_models=True,
                           lifecycle_list_votes=RULES.list_votes,
                           lifecycle_provisional_votes=RULES.provisional_votes) as app:
        sm = app.state.arena.sessionmaker
        async with sm() as session:
            visitors = await add_visitors(session, 40)
            three = {k: v for k, v in STRENGTHS.items() if k != NEWCOMER}
            specs = random_battles(400, seed=11, visitors=visitors, strengths=three)
            specs += random_battles(15, seed=12, visitors=visitors,
                                    strengths={NEWCOMER: 1000.0, "alpha-vl": 1200.0})
            await insert_battles(session, specs)
        async with sm() as session:
            await set_retired(session, RETIRED, "lifecycle-test", "retire")
        await run_leaderboard(sm, params=PARAMS)
        yield app


@pytest.fixture(scope="module")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as c:
        yield c


async def test_testing_model_is_off_the_public_board_and_in_admin(
        app: FastAPI, client: httpx.AsyncClient) -> None:
    api = (await client.get("/api/leaderboard")).json()
    shown = {r["model"]: r for r in api["rows"]}
    assert set(shown) == {"alpha-vl", "beta-vl", RETIRED}
    for row in api["rows"]:
        assert row["status"] == RULES.state(row["votes"], retired=row["model"] == RETIRED)
    assert shown[RETIRED]["status"] == "retired"
    # alpha 293 votes (listed), beta 275 (provisional: under 50 + 230), gamma retired
    assert {r["status"] for r in api["rows"]} == {"listed", "provisional", "retired"}
    # re-ranked among the shown models only
    assert min(r["rank"] for r in api["rows"]) == 1
    assert NEWCOMER not in api["models"] and len(api["winrate"]) == 3
    page_html = (await client.get("/leaderboard")).text
    assert NEWCOMER not in page_html
    assert re.findall(r'<td class="model">([^<]+)</td>', page_html) == [
        r["model"] for r in api["rows"]]
    assert 'class="badge badge-retired"' in page_html
    # every slice board (style control too) hides it as well
    style = (await client.get("/api/leaderboard", params={"kind": "style"})).json()
    assert NEWCOMER not in {r["model"] for r in style["rows"]}

    sm = app.state.arena.sessionmaker
    async with sm() as session:
        votes = dict((await session.execute(select(ModelEntry.name, ModelEntry.ranked_votes)
                                            )).all())
        rows = {r.name: r for r in await lifecycle_rows(session, RULES)}
    assert votes[NEWCOMER] == 15 and rows[NEWCOMER].state == "testing"
    assert rows[NEWCOMER].draw_weight == 3.0 and rows[RETIRED].draw_weight == 0.0
    assert rows["omega-vl"].draw_weight == 1.0  # unranked: never counted, never boosted
    # the admin page lists it (logged in as an admin)
    name, password = await add_user(sm, "admin")
    assert (await login(client, name, password)).status_code == 303
    admin_page = (await client.get("/admin/lifecycle")).text
    assert f'data-model="{NEWCOMER}" data-state="testing"' in admin_page
    assert f'data-model="{RETIRED}" data-state="retired"' in admin_page


async def test_retired_never_drawn_testing_boosted_and_changes_audited(
        app: FastAPI, client: httpx.AsyncClient) -> None:
    state = app.state.arena
    for model in (*STRENGTHS, "omega-vl"):
        await state.queue.heartbeat(WorkerInfo(f"w-{model}", model), 3600)
    rng = random.Random(5)
    drawn: Counter[str] = Counter()
    async with state.sessionmaker() as session:
        for _ in range(400):
            pair = await choose_models(session, state.queue, "anonymous", [], rng, rules=RULES)
            drawn.update(m.name for m in pair)
    assert drawn[RETIRED] == 0
    # delta (15 votes) is testing: 3x alpha's weight; alpha is listed or provisional
    assert drawn[NEWCOMER] > 1.5 * drawn["alpha-vl"], drawn

    # reinstate through the admin API: audited once, drawn again
    async with state.sessionmaker() as session:
        name, password = await add_user(state.sessionmaker, "admin")
    async with asgi_client(app) as admin:
        assert (await login(admin, name, password)).status_code == 303
        page_html = (await admin.get("/admin/lifecycle")).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page_html)
        assert token
        headers = {"X-CSRF-Token": token.group(1)}
        bad = await admin.post(f"/admin/api/models/{RETIRED}/lifecycle",
                               json={"action": "delete"}, headers=headers)
        assert bad.status_code == 422
        missing = await admin.post("/admin/api/models/nope/lifecycle",
                                   json={"action": "retire"}, headers=headers)
        assert missing.status_code == 404
        no_csrf = await admin.post(f"/admin/api/models/{RETIRED}/lifecycle",
                                   json={"action": "reinstate"})
        assert no_csrf.status_code == 403
        ok = await admin.post(f"/admin/api/models/{RETIRED}/lifecycle",
                              json={"action": "reinstate"}, headers=headers)
        assert ok.status_code == 200 and ok.json() == {"retired_at": None}
        again = await admin.post(f"/admin/api/models/{RETIRED}/lifecycle",
                                 json={"action": "reinstate"}, headers=headers)
        assert again.status_code == 200
    async with state.sessionmaker() as session:
        entries = (await session.scalars(select(AuditLog).where(
            AuditLog.target == f"model:{RETIRED}").order_by(AuditLog.at))).all()
        assert [e.action for e in entries] == ["model.retire", "model.reinstate"]
        drawn = Counter()
        for _ in range(100):
            drawn.update(m.name for m in await choose_models(
                session, state.queue, "anonymous", [], rng, rules=RULES))
    assert drawn[RETIRED] > 0
    async with state.sessionmaker() as session:  # back as the other tests expect it
        await set_retired(session, RETIRED, "lifecycle-test", "retire")


@pytest.fixture(scope="module")
def lifecycle_server(app: FastAPI, lb_pg_url: str, lb_models_file: Path,
                     tmp_path_factory: pytest.TempPathFactory) -> Any:
    data = tmp_path_factory.mktemp("lc-server")
    server = AdminServer(env={
        "ARENA_DATABASE_URL": lb_pg_url, "ARENA_REDIS_URL": "", "ARENA_DATA_DIR": str(data),
        "ARENA_MODELS_FILE": str(lb_models_file),
        "ARENA_SECRET_KEY": "lifecycle-browser-secret-0123456789",
        "ARENA_IP_HASH_SALT": "lifecycle-browser-salt", "ARENA_MODERATION_ENABLED": "false",
        "ARENA_LIFECYCLE_LIST_VOTES": str(RULES.list_votes),
        "ARENA_LIFECYCLE_PROVISIONAL_VOTES": str(RULES.provisional_votes),
    }, port=free_port(), log=data / "web.log")
    server.start()
    yield server
    server.stop()


@pytest.mark.browser
async def test_badges_render_in_chromium(lifecycle_server: Any, page: Any) -> None:  # noqa: F811
    await page.goto(f"{lifecycle_server.url}/leaderboard")
    retired = page.locator(f'tr:has(td.model:text-is("{RETIRED}")) .badge-retired')
    await retired.wait_for()
    assert await retired.is_visible() and (await retired.inner_text()) == "Retired"
    statuses = await page.locator("#board > table.lb-table > tbody > tr").evaluate_all(
        "rows => rows.map(r => [r.querySelector('td.model').textContent, r.dataset.status])")
    assert NEWCOMER not in [m for m, _ in statuses]
    for model, status in statuses:
        badge = page.locator(f'tr:has(td.model:text-is("{model}")) .badge')
        if status == "provisional":
            assert await badge.inner_text() == "Provisional" and await badge.is_visible()
            colour = await badge.evaluate("el => getComputedStyle(el).backgroundColor")
            assert colour == "rgb(255, 241, 214)"
        elif status == "listed":
            assert await badge.count() == 0
    assert "provisional" in {s for _, s in statuses}
    assert "Models appear after 50 counted votes" in await page.locator(
        "#lb-lifecycle").inner_text()


async def test_data_share_report_in_admin_and_snapshot(app: FastAPI,
                                                       client: httpx.AsyncClient) -> None:
    from app.leaderboard.data_share import UNKNOWN_PROVIDER, data_share
    from app.leaderboard.snapshots import latest_snapshot

    sm = app.state.arena.sessionmaker
    async with sm() as session:
        await session.execute(update(ModelEntry).where(
            ModelEntry.name.in_(["alpha-vl", "beta-vl"])).values(provider="Acme"))
        await session.commit()
        share = await data_share(session)
        view = await latest_snapshot(session)
    assert view is not None
    stored = view.snapshot.payload["data_share"]
    by_model = {m["model"]: m for m in share["models"]}
    # 400 battles among alpha, beta, gamma and 15 of delta with alpha: one prompt each
    assert share["battles"] == 415 == stored["battles"]
    assert by_model[NEWCOMER]["battles"] == 15 == by_model[NEWCOMER]["prompts"]
    assert sum(m["battles"] for m in share["models"]) == 2 * 415
    assert {m["model"]: m["battles"] for m in stored["models"]} == {
        m: v["battles"] for m, v in by_model.items()}
    providers = {p["provider"]: p for p in share["providers"]}
    assert providers["Acme"]["battles"] == by_model["alpha-vl"]["battles"] + by_model[
        "beta-vl"]["battles"]
    assert providers["Acme"]["models"] == 2 and providers[UNKNOWN_PROVIDER]["models"] == 2
    assert sum(p["share"] for p in share["providers"]) == pytest.approx(1.0, abs=1e-3)
    name, password = await add_user(sm, "admin")
    assert (await login(client, name, password)).status_code == 303
    page_html = (await client.get("/admin/lifecycle")).text
    assert '<tr data-provider="Acme"><th>Acme</th><td>2</td>' \
        f'<td>{providers["Acme"]["battles"]}</td>' in page_html


async def test_robustness_audit_in_snapshot_and_integrity_report(
        app: FastAPI, client: httpx.AsyncClient) -> None:
    from app.leaderboard.snapshots import latest_snapshot

    sm = app.state.arena.sessionmaker
    async with sm() as session:
        view = await latest_snapshot(session)
    assert view is not None
    audit = view.snapshot.payload["robustness"]
    assert audit["top"][:1] and audit["votes"]["dropped"] == 4  # 1% of 415 counted votes
    assert audit["visitors"]["of"] == 40 and audit["visitors"]["dropped"] == 1
    for gap in audit["votes"]["gaps"]:
        assert gap["refit"] <= gap["gap"] + 1e-6  # the chosen votes shrink the gap
    name, password = await add_user(sm, "admin")
    assert (await login(client, name, password)).status_code == 303
    page_html = (await client.get("/admin/integrity")).text
    assert 'id="robustness-votes"' in page_html and 'id="robustness-visitors"' in page_html
    assert f"Dropping 4 of {audit['votes']['of']} votes" in page_html


async def test_adaptive_draw_only_live_models_random_sides(app: FastAPI) -> None:
    from app.leaderboard.snapshots import latest_snapshot

    state = app.state.arena
    for model in (*STRENGTHS, "omega-vl"):
        await state.queue.heartbeat(WorkerInfo(f"w-{model}", model), 3600)
    await state.queue.remove_worker("beta-vl", "w-beta-vl")  # beta goes offline
    rng = random.Random(9)
    drawn: Counter[str] = Counter()
    first: Counter[str] = Counter()
    async with state.sessionmaker() as session:
        view = await latest_snapshot(session)
        assert view is not None and view.snapshot.payload["pair_counts"]["models"]
        for _ in range(300):
            pair = await choose_models(session, state.queue, "anonymous", [], rng,
                                       rules=RULES, adaptive=True)
            drawn.update(m.name for m in pair)
            first[pair[0].name] += 1
    assert drawn["beta-vl"] == 0 and drawn[RETIRED] == 0  # offline, retired: never
    assert set(drawn) == {"alpha-vl", NEWCOMER, "omega-vl"}
    # sides: each model is on side A about half of its battles
    for name, n in drawn.items():
        assert abs(first[name] / n - 0.5) < 0.15, (name, first[name], n)
    await state.queue.heartbeat(WorkerInfo("w-beta-vl", "beta-vl"), 3600)
