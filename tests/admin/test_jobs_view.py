"""The admin job view (issue 9): every generation's attempts, counts per status and outcome,
stuck work, and the anomalies that mean an answer was generated again after it finished.

Rows are inserted in their final state (a trigger refuses UPDATEs of a finished
generation). The seeded models are this module's own, so other tests' rows in the shared
admin database never reach the numbers checked here."""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from app.db.models import Battle, Generation, GenerationAttempt, Turn, utcnow
from app.web.admin_routes import SESSION_COOKIE
from tests.admin.conftest import client_for
from tests.admin.seed import add_model, add_visitor

EVIL_ERROR = "boom <b>bold</b> & more"


@dataclass
class Seeded:
    model: str  # the five cases of the issue
    other: str  # one generation with two `done` attempts
    ids: dict[str, str]  # case → generation id
    battles: dict[str, str]  # case → battle id


def attempt(n: int, worker: str, start: datetime, end: datetime | None, outcome: str,
            error: str | None = None) -> GenerationAttempt:
    return GenerationAttempt(attempt=n, worker_id=worker, started_at=start, ended_at=end,
                             outcome=outcome, error=error)


async def add_job(sm: Any, visitor: uuid.UUID, model: str, other: str, *, created: datetime,
                  status: str, attempts: list[GenerationAttempt],
                  finished: datetime | None = None, error: str | None = None,
                  side: str = "a") -> tuple[str, str]:
    """One battle whose side `side` is a generation in its final state, with its log."""
    async with sm() as session:
        battle = Battle(visitor_id=visitor, mode="anonymous", model_a=model, model_b=other,
                        created_at=created, ip_hash="ip-jobs", review_status="none",
                        moderation={})
        turn = Turn(index=0, prompt="Secret prompt of the jobs test", created_at=created)
        battle.turns.append(turn)
        last = attempts[-1] if attempts else None
        gen = Generation(
            side=side, model=model, status=status, text="an answer" if status == "done" else "",
            attempts=len(attempts), error=error,
            worker_id=last.worker_id if last and status != "queued" else None,
            created_at=created, finished_at=finished,
            status_at=finished or (last.ended_at if last and last.ended_at else created),
        )
        gen.attempt_log.extend(attempts)
        turn.generations.append(gen)
        session.add(battle)
        await session.commit()
        return str(gen.id), str(battle.id)


@pytest.fixture(scope="module")
async def seeded(sm: Any) -> Seeded:
    tag = secrets.token_hex(3)
    model, other = f"jobs-a-{tag}", f"jobs-b-{tag}"
    await add_model(sm, model)
    await add_model(sm, other)
    visitor = await add_visitor(sm)
    now = utcnow()
    s = timedelta(seconds=1)
    ids: dict[str, str] = {}
    battles: dict[str, str] = {}

    async def job(case: str, **kw: Any) -> None:
        ids[case], battles[case] = await add_job(sm, visitor, kw.pop("model", model), other,
                                                 **kw)

    c = now - timedelta(minutes=5)
    await job("clean", created=c, status="done", finished=c + 4 * s,
              attempts=[attempt(1, "worker-1", c + s, c + 4 * s, "done")])
    c = now - timedelta(minutes=4)
    await job("reclaimed", created=c, status="done", finished=c + 45 * s, side="b",
              attempts=[attempt(1, "worker-1", c + s, c + 40 * s, "superseded"),
                        attempt(2, "worker-2", c + 40 * s, c + 45 * s, "done")])
    c = now - timedelta(hours=3)
    await job("failed", created=c, status="failed", finished=c + 30 * s, error=EVIL_ERROR,
              attempts=[attempt(1, "worker-1", c + s, c + 10 * s, "requeued", "timeout"),
                        attempt(2, "worker-2", c + 11 * s, c + 20 * s, "requeued", "timeout"),
                        attempt(3, "worker-1", c + 21 * s, c + 30 * s, "failed", EVIL_ERROR)])
    c = now - timedelta(minutes=30)
    await job("stuck", created=c, status="queued",
              attempts=[attempt(1, "worker-3", c, c, "released", "worker stopped")])
    c = now - timedelta(minutes=2)
    await job("anomaly", created=c, status="done", finished=c + 5 * s,
              attempts=[attempt(1, "worker-1", c + s, c + 5 * s, "done"),
                        attempt(2, "worker-2", c + 65 * s, c + 70 * s, "stale")])
    c = now - timedelta(minutes=1)
    await job("double", model=other, created=c, status="done", finished=c + 8 * s,
              attempts=[attempt(1, "worker-1", c + s, c + 10 * s, "done"),
                        attempt(2, "worker-2", c + 3 * s, c + 8 * s, "done")])
    return Seeded(model, other, ids, battles)


async def api(staff: Any, **params: Any) -> dict[str, Any]:
    r = await staff.client.get("/admin/api/jobs", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def case_ids(seeded: Seeded, jobs: list[dict[str, Any]]) -> list[str]:
    names = {v: k for k, v in seeded.ids.items()}
    return [names.get(j["generation_id"], "?") for j in jobs]


async def test_the_json_shows_each_generation_with_its_attempts(
    staff_login: Any, seeded: Seeded
) -> None:
    admin = await staff_login("admin", shared_account=True)
    view = await api(admin, model=seeded.model)
    assert view["total"] == 5 and view["has_more"] is False
    assert case_ids(seeded, view["jobs"]) == ["anomaly", "reclaimed", "clean", "stuck", "failed"]
    by_case = dict(zip(case_ids(seeded, view["jobs"]), view["jobs"], strict=True))

    reclaimed = by_case["reclaimed"]
    assert reclaimed["battle_id"] == seeded.battles["reclaimed"]
    assert (reclaimed["model"], reclaimed["side"], reclaimed["status"]) == (
        seeded.model, "b", "done")
    assert reclaimed["attempts"] == 2 and reclaimed["worker_id"] == "worker-2"
    assert [(a["attempt"], a["worker_id"], a["outcome"], a["duration_s"], a["after_finish"])
            for a in reclaimed["attempt_log"]] == [
        (1, "worker-1", "superseded", 39.0, False), (2, "worker-2", "done", 5.0, False)]
    assert reclaimed["anomalies"] == []

    failed = by_case["failed"]
    assert failed["status"] == "failed" and failed["error"] == EVIL_ERROR
    assert [(a["outcome"], a["error"]) for a in failed["attempt_log"]] == [
        ("requeued", "timeout"), ("requeued", "timeout"), ("failed", EVIL_ERROR)]

    assert [a["outcome"] for a in by_case["clean"]["attempt_log"]] == ["done"]
    assert by_case["stuck"]["status"] == "queued"
    assert by_case["stuck"]["worker_id"] is None

    anomaly = by_case["anomaly"]
    assert anomaly["anomalies"] == ["attempt 2 started after the answer finished"]
    assert [a["after_finish"] for a in anomaly["attempt_log"]] == [False, True]
    # Nothing of the conversation is in the view: ids, models and attempt records only.
    assert "Secret prompt" not in str(view) and "an answer" not in str(view)


async def test_counts_stuck_work_and_anomalies(staff_login: Any, seeded: Seeded) -> None:
    admin = await staff_login("admin", shared_account=True)
    view = await api(admin, model=seeded.model)
    counts = {c["window"]: c for c in view["counts"]}
    assert counts["1h"]["statuses"] == {"queued": 1, "running": 0, "done": 3, "failed": 0}
    assert counts["1h"]["outcomes"] == {
        "running": 0, "done": 3, "failed": 0, "requeued": 0, "released": 1,
        "superseded": 1, "stale": 1}
    assert counts["24h"]["statuses"] == {"queued": 1, "running": 0, "done": 3, "failed": 1}
    assert counts["24h"]["outcomes"] == {
        "running": 0, "done": 3, "failed": 1, "requeued": 2, "released": 1,
        "superseded": 1, "stale": 1}

    assert view["stuck_minutes"] == 10
    assert case_ids(seeded, view["stuck"]) == ["stuck"]
    assert (await api(admin, model=seeded.model, stuck_minutes=31))["stuck"] == []

    assert case_ids(seeded, view["anomalies"]) == ["anomaly"]
    other = await api(admin, model=seeded.other)
    assert case_ids(seeded, other["jobs"]) == ["double"]
    assert case_ids(seeded, other["anomalies"]) == ["double"]
    assert other["anomalies"][0]["anomalies"] == ["2 attempts ended done"]
    assert other["stuck"] == []

    everything = await api(admin, limit=200)
    assert {"anomaly", "double"} <= set(case_ids(seeded, everything["anomalies"]))
    assert "stuck" in case_ids(seeded, everything["stuck"])
    # Newest first across models too.
    listed = [c for c in case_ids(seeded, everything["jobs"]) if c != "?"]
    assert listed == ["double", "anomaly", "reclaimed", "clean", "stuck", "failed"]


@pytest.mark.parametrize(("params", "expected"), [
    ({"status": "failed"}, ["failed"]),
    ({"status": "queued"}, ["stuck"]),
    ({"status": "running"}, []),
    ({"retried": "true"}, ["anomaly", "reclaimed", "failed"]),
    ({"retried": "true", "status": "done"}, ["anomaly", "reclaimed"]),
    ({"anomalies": "true"}, ["anomaly"]),
    ({"anomalies": "true", "status": "failed"}, []),
])
async def test_filters(staff_login: Any, seeded: Seeded, params: dict[str, str],
                       expected: list[str]) -> None:
    admin = await staff_login("admin", shared_account=True)
    view = await api(admin, model=seeded.model, **params)
    assert case_ids(seeded, view["jobs"]) == expected
    assert view["total"] == len(expected)
    # The list filters do not narrow the counts, stuck work or anomalies.
    assert case_ids(seeded, view["anomalies"]) == ["anomaly"]
    assert case_ids(seeded, view["stuck"]) == ["stuck"]


async def test_pagination(staff_login: Any, seeded: Seeded) -> None:
    admin = await staff_login("admin", shared_account=True)
    first = await api(admin, model=seeded.model, limit=2)
    assert case_ids(seeded, first["jobs"]) == ["anomaly", "reclaimed"]
    assert first["total"] == 5 and first["has_more"] is True
    last = await api(admin, model=seeded.model, limit=2, offset=4)
    assert case_ids(seeded, last["jobs"]) == ["failed"] and last["has_more"] is False
    page = (await admin.client.get("/admin/jobs", params={
        "model": seeded.model, "limit": 2, "offset": 2})).text
    assert 'rel="prev"' in page and 'rel="next"' in page
    assert "offset=4" in page and "offset=0" in page


async def test_invalid_filters_are_422(staff_login: Any, seeded: Seeded) -> None:
    admin = await staff_login("admin", shared_account=True)
    for params in ({"status": "exploded"}, {"limit": 0}, {"limit": 201}, {"offset": -1},
                   {"stuck_minutes": 0}):
        r = await admin.client.get("/admin/api/jobs", params=params)
        assert r.status_code == 422, (params, r.text)


def section(html: str, name: str) -> str:
    found = re.search(rf'<section class="card" id="{name}">(.*?)</section>', html, re.S)
    assert found, name
    return found.group(1)


async def test_the_page_shows_the_same_and_escapes_errors(
    staff_login: Any, seeded: Seeded
) -> None:
    admin = await staff_login("admin", shared_account=True)
    r = await admin.client.get("/admin/jobs", params={"model": seeded.model})
    assert r.status_code == 200
    assert "default-src 'self'" in r.headers["content-security-policy"]
    html = r.text
    ids = seeded.ids
    jobs = section(html, "job-list")
    assert re.findall(r'<tr class="job[^"]*" data-generation="([^"]+)"', jobs) == [
        ids["anomaly"], ids["reclaimed"], ids["clean"], ids["stuck"], ids["failed"]]
    for case in ("anomaly", "reclaimed", "clean", "stuck", "failed"):
        assert seeded.battles[case] in jobs
    assert ids["double"] not in html and "Secret prompt" not in html

    anomalies = section(html, "job-anomalies")
    assert re.findall(r'data-generation="([^"]+)"', anomalies) == [ids["anomaly"]] * 2
    assert "attempt 2 started after the answer finished" in anomalies
    stuck = section(html, "job-stuck")
    assert set(re.findall(r'data-generation="([^"]+)"', stuck)) == {ids["stuck"]}

    counts = section(html, "job-counts")
    hour = re.search(r'<tr data-window="1h">(.*?)</tr>', counts, re.S).group(1)
    assert re.search(r'data-status="done">3<', hour)
    assert re.search(r'data-status="queued">1<', hour)
    assert re.search(r'data-outcome="stale" class="error">1<', hour)
    day = re.search(r'<tr data-window="24h">(.*?)</tr>', counts, re.S).group(1)
    assert re.search(r'data-status="failed">1<', day)
    assert re.search(r'data-outcome="requeued" class="">2<', day)

    # The reclaimed answer's two attempts, each with its worker, outcome and duration.
    reclaimed = re.search(
        rf'<tr class="attempts-of" data-generation="{ids["reclaimed"]}">(.*?)</table>',
        jobs, re.S).group(1)
    assert re.findall(r'data-outcome="([a-z]+)"', reclaimed) == ["superseded", "done"]
    assert "worker-1" in reclaimed and "worker-2" in reclaimed and "39.0 s" in reclaimed

    # Error text is shown escaped, never as markup.
    assert "<b>bold</b>" not in html
    assert html.count("boom &lt;b&gt;bold&lt;/b&gt; &amp; more") == 2  # generation + attempt

    # The nav links the page, and the filters are an htmx form that also works without JS.
    assert 'href="/admin/jobs"' in html
    form = re.search(r'<form class="card filters" id="job-filters"(.*?)</form>', html,
                     re.S).group(1)
    assert 'hx-get="/admin/jobs"' in form and 'hx-select="#jobs"' in form
    assert 'action="/admin/jobs"' in form


async def test_page_filters(staff_login: Any, seeded: Seeded) -> None:
    admin = await staff_login("admin", shared_account=True)
    ids = seeded.ids
    for params, expected in (
        ({"status": "failed"}, ["failed"]),
        ({"retried": "true"}, ["anomaly", "reclaimed", "failed"]),
        ({"anomalies": "true"}, ["anomaly"]),
    ):
        r = await admin.client.get("/admin/jobs", params={"model": seeded.model, **params},
                                   headers={"HX-Request": "true"})
        assert r.status_code == 200
        jobs = section(r.text, "job-list")
        assert re.findall(r'<tr class="job[^"]*" data-generation="([^"]+)"', jobs) == [
            ids[c] for c in expected], params
    r = await admin.client.get("/admin/jobs", params={"model": seeded.other})
    assert section(r.text, "job-anomalies").count(ids["double"]) == 2
    assert "2 attempts ended done" in r.text


async def test_refused_without_a_session_or_the_admin_role(
    admin_app: Any, staff_login: Any, seeded: Seeded
) -> None:
    async with client_for(admin_app) as anonymous:
        r = await anonymous.get("/admin/jobs")
        assert r.status_code == 303
        assert r.headers["location"] == "/admin/login?next=/admin/jobs"
        r = await anonymous.get("/admin/api/jobs")
        assert r.status_code == 401 and r.json() == {"detail": "Please log in."}
        anonymous.cookies.set(SESSION_COOKIE, "not-a-session", path="/admin")
        assert (await anonymous.get("/admin/api/jobs")).status_code == 401
        r = await anonymous.get("/admin/jobs", headers={"HX-Request": "true"})
        assert r.status_code == 204 and r.headers["HX-Redirect"].startswith("/admin/login")
    mod = await staff_login("moderator", shared_account=True)
    assert (await mod.client.get("/admin/jobs")).status_code == 403
    assert (await mod.client.get("/admin/api/jobs")).status_code == 403
    assert 'href="/admin/jobs"' not in (await mod.client.get("/admin/")).text
