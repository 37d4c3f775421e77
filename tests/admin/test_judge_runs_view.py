"""The admin Judges view: judge runs with progress, cost (tokens), failures and parse
failures; one run's failed and unparsable judgments with the raw output shown escaped; a
form (and a JSON route) that starts a category pass, admin-only and audited.

The run is made by the judge runner itself and answered the way a worker answers (fenced
attempt, the template's strict parser), so the numbers checked are the real ones. Its judge
is this module's own, so other tests' rows in the shared admin database do not count."""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from app.db.admin_tables import AuditLog
from app.db.category_tables import CategoryLabel
from app.db.judge_tables import Judgment
from app.db.models import ModelEntry
from app.judges.results import ParseFailure
from app.judges.runs import JudgmentSpec, submit_run
from app.judges.templates import get_template, parse_output
from app.queue import WorkerInfo
from app.web.admin_routes import SESSION_COOKIE
from tests.admin.conftest import client_for
from tests.admin.seed import add_battle, add_model
from workers import judgment_store
from workers.judge_jobs import parsed_json

EVIL_OUTPUT = "<script>alert('judge')</script> & <decision>maybe</decision>"


@dataclass
class Seeded:
    judge: str
    offline_judge: str
    run_id: str
    judgments: dict[str, str]  # case -> judgment id
    set_file: Path


async def _answer(sm: Any, judgment_id: str, raw: str | None, tokens: tuple[int, int]) -> None:
    """Finish one judgment as a worker does; `raw=None` fails it."""
    async with sm() as session:
        ctx = await judgment_store.begin_attempt(session, judgment_id, "admin-test-worker")
    assert ctx is not None
    async with sm() as session:
        if raw is None:
            assert await judgment_store.mark_failed(session, judgment_id, ctx.attempt,
                                                    "engine <crashed>")
            return
        result = parse_output(get_template("category", 1), raw, ctx.inputs)
        failure = str(result) if isinstance(result, ParseFailure) else None
        assert await judgment_store.save_result(
            session, judgment_id, ctx.attempt, raw_output=raw,
            parsed=None if failure else parsed_json(result), parse_error=failure,
            prompt_tokens=tokens[0], completion_tokens=tokens[1], latency_ms=3.0)


@pytest.fixture(scope="module")
async def seeded(admin_app: Any, sm: Any, tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    tag = secrets.token_hex(3)
    judge, offline = f"judge-{tag}", f"judge-off-{tag}"
    set_file = tmp_path_factory.mktemp("judges") / f"admin-{tag}.yaml"
    set_file.write_text(yaml.safe_dump({"name": f"admin-{tag}", "categories": [
        {"name": "counting", "sees": "prompt", "question": "Does it ask how many?"}]}))
    async with sm() as session:
        session.add(ModelEntry(name=judge, backend="openai", role="judge", ranked=False,
                               options={"judge_form": "short", "categories": {
                                   "set": str(set_file), "interval_s": 120, "batch": 50}}))
        session.add(ModelEntry(name=offline, backend="openai", role="judge", ranked=False))
        await session.commit()
    queue = admin_app.state.arena.queue
    await queue.heartbeat(WorkerInfo(worker_id=f"w-{tag}", model=judge), 3600)
    template = get_template("category", 1)
    cases = ("yes", "no", "garbage", "failed", "waiting")
    specs = [JudgmentSpec(template, judge, {"criterion": "Is it a question?",
                                           "prompt": f"Case {case} {tag}?"}, form="short",
                          meta={"case": case}) for case in cases]
    async with sm() as session:
        run = await submit_run(session, queue, kind="test", label=f"admin view {tag}",
                               specs=specs, created_by="tests")
        rows = (await session.execute(select(Judgment.id, Judgment.meta)
                                      .where(Judgment.run_id == run.id))).all()
    ids = {meta["case"]: str(jid) for jid, meta in rows}
    await _answer(sm, ids["yes"], "Mine: yes. <decision>yes</decision>", (100, 5))
    await _answer(sm, ids["no"], "<decision>no</decision>", (90, 4))
    await _answer(sm, ids["garbage"], EVIL_OUTPUT, (80, 20))
    await _answer(sm, ids["failed"], None, (0, 0))
    return Seeded(judge, offline, str(run.id), ids, set_file)


async def test_the_json_lists_runs_with_progress_cost_and_failures(
    staff_login: Any, seeded: Seeded
) -> None:
    admin = await staff_login("admin", shared_account=True)
    r = await admin.client.get("/admin/api/judge-runs", params={"kind": "test"})
    assert r.status_code == 200, r.text
    view = r.json()
    run = next(x for x in view["runs"] if x["id"] == seeded.run_id)
    assert run["progress"] == {
        "total": 5, "queued": 1, "running": 0, "done": 3, "failed": 1, "parse_failures": 1,
        "prompt_tokens": 270, "completion_tokens": 29, "finished": 4, "percent": 80.0}
    assert run["tokens"] == 299 and run["status"] == "running"
    assert run["judges"] == [seeded.judge] and run["kind"] == "test"
    assert all(x["kind"] == "test" for x in view["runs"])
    choices = view["category_pass"]
    assert seeded.judge in choices["judges"] and seeded.offline_judge in choices["judges"]
    assert "visionarena" in choices["sets"] and str(seeded.set_file) in choices["sets"]
    assert "category@1" in choices["templates"]

    r = await admin.client.get(f"/admin/api/judge-runs/{seeded.run_id}")
    assert r.status_code == 200, r.text
    detail = r.json()
    assert detail["failures_total"] == 2 and detail["label_decisions"] == {}
    failures = {f["id"]: f for f in detail["failures"]}
    assert set(failures) == {seeded.judgments["garbage"], seeded.judgments["failed"]}
    garbage = failures[seeded.judgments["garbage"]]
    assert garbage["raw_output"] == EVIL_OUTPUT and garbage["status"] == "done"
    assert garbage["parse_error"].startswith("decision")
    failed = failures[seeded.judgments["failed"]]
    assert failed["status"] == "failed" and failed["error"] == "engine <crashed>"
    for bad in ("not-a-uuid", str(uuid.uuid4())):
        r = await admin.client.get(f"/admin/api/judge-runs/{bad}")
        assert r.status_code == 404 and r.json() == {"detail": "no such judge run"}


def section(html: str, name: str) -> str:
    found = re.search(rf'<section class="card" id="{name}"[^>]*>(.*?)</section>', html, re.S)
    assert found, name
    return found.group(1)


async def test_the_page_shows_runs_and_one_runs_failures_escaped(
    staff_login: Any, seeded: Seeded
) -> None:
    admin = await staff_login("admin", shared_account=True)
    r = await admin.client.get("/admin/judges")
    assert r.status_code == 200
    assert "default-src 'self'" in r.headers["content-security-policy"]
    runs = section(r.text, "judge-runs-card")
    row = re.search(rf'<tr class="judge-run" data-run="{seeded.run_id}"(.*?)</tr>', runs,
                    re.S).group(1)
    assert '<progress max="5" value="4"' in row and "4/5" in row
    assert '<td class="tokens"' in row and ">299<" in row
    assert '<td class="failed error">1<' in row and '<td class="parse-failures error">1<' in row
    assert 'hx-trigger="every 5s"' in runs  # the table refreshes itself
    assert 'href="/admin/judges"' in r.text  # the nav links the page
    config = section(r.text, "category-pass")
    assert "every 120 s, 50 battles a pass" in config

    r = await admin.client.get(f"/admin/judges/{seeded.run_id}")
    assert r.status_code == 200
    detail = re.search(r'<section class="card" id="judge-run-detail".*?</section>', r.text,
                       re.S).group(0)
    assert "4 of 5 judgments finished (80.0%)" in detail
    assert "Cost: 299 tokens (270 prompt, 29 completion)" in detail
    assert set(re.findall(r'class="judgment-failure" data-judgment="([^"]+)"', detail)) == {
        seeded.judgments["garbage"], seeded.judgments["failed"]}
    # The judge's raw output and the error are text on the page, never markup.
    assert "<script>" not in r.text and "engine <crashed>" not in r.text
    assert "&lt;script&gt;alert(&#39;judge&#39;)&lt;/script&gt; &amp; " in detail
    assert "engine &lt;crashed&gt;" in detail
    assert (await admin.client.get("/admin/judges/not-a-uuid")).status_code == 404


async def test_starting_a_category_pass_is_audited_and_labels_battles(
    admin_app: Any, sm: Any, blobs: Any, staff_login: Any, seeded: Seeded
) -> None:
    await add_model(sm, "alpha-vlm")
    await add_model(sm, "beta-vlm")
    battle = await add_battle(sm, blobs, models=("alpha-vlm", "beta-vlm"),
                              prompt="How many shapes are there?", review_status="none")
    admin = await staff_login("admin", shared_account=True)
    r = await admin.client.post("/admin/judges/category-pass", headers={
        **admin.headers, "HX-Request": "true"}, data={
        "judge": seeded.judge, "category_set": str(seeded.set_file), "template": "",
        "limit": "10000"})
    assert r.status_code == 200, r.text
    found = re.search(r"Started run ([0-9a-f-]{36}): (\d+) battles, (\d+) judgments", r.text)
    assert found, r.text
    run_id, n_battles = found.group(1), int(found.group(2))
    async with sm() as session:
        labels = (await session.scalars(select(CategoryLabel)
                                        .where(CategoryLabel.run_id == uuid.UUID(run_id)))).all()
        entry = (await session.scalars(select(AuditLog).where(
            AuditLog.action == "judge_run.start_categories",
            AuditLog.target == f"judge_run:{run_id}"))).one()
    assert len(labels) == n_battles >= 1 and all(lb.decision is None for lb in labels)
    assert uuid.UUID(battle) in {lb.battle_id for lb in labels}
    assert entry.actor == admin.username
    assert entry.after["judge"] == seeded.judge and entry.after["battles"] == n_battles

    r = await admin.client.get(f"/admin/api/judge-runs/{run_id}")
    assert r.json()["label_decisions"] == {"pending": n_battles}
    assert r.json()["run"]["kind"] == "categories"
    # The same battles again: nothing to do (every one has labels under this version).
    r = await admin.client.post("/admin/api/judge-runs", headers=admin.headers, json={
        "judge": seeded.judge, "category_set": str(seeded.set_file)})
    assert r.status_code == 200, r.text
    assert r.json()["run_id"] is None and r.json()["battles"] == 0


@pytest.mark.parametrize(("body", "message"), [
    ({"judge": "OFFLINE", "category_set": "visionarena"}, "has no live worker"),
    ({"judge": "nobody", "category_set": "visionarena"}, "is not a judge model here"),
    ({"judge": "JUDGE", "category_set": "/etc/passwd"}, "unknown category set"),
    ({"judge": "JUDGE", "category_set": "visionarena", "template": "category@9"},
     "unknown category template"),
    ({"judge": "JUDGE", "category_set": "visionarena", "limit": 0}, "greater than or equal"),
    ({"judge": "JUDGE", "category_set": "visionarena", "colour": "red"}, "Extra inputs"),
])
async def test_a_bad_pass_is_refused_with_a_clear_message_and_writes_nothing(
    sm: Any, staff_login: Any, seeded: Seeded, body: dict[str, Any], message: str
) -> None:
    body = {k: (v.replace("OFFLINE", seeded.offline_judge).replace("JUDGE", seeded.judge)
                if isinstance(v, str) else v) for k, v in body.items()}
    admin = await staff_login("admin", shared_account=True)

    async def count() -> tuple[int, int]:
        async with sm() as session:
            runs = await session.scalar(select(func.count()).select_from(CategoryLabel))
            audits = await session.scalar(select(func.count()).select_from(AuditLog).where(
                AuditLog.action == "judge_run.start_categories"))
        return int(runs or 0), int(audits or 0)

    before = await count()
    r = await admin.client.post("/admin/api/judge-runs", headers=admin.headers, json=body)
    assert r.status_code == 422, r.text
    assert message in str(r.json()["detail"])
    form = {"judge": body["judge"], "category_set": body["category_set"]}
    if "offline" in body["judge"]:
        r = await admin.client.post("/admin/judges/category-pass", data=form, headers={
            **admin.headers, "HX-Request": "true"})
        assert r.status_code == 422 and message in r.text
        assert r.headers["HX-Retarget"] == "#errors"
    assert await count() == before


async def test_refused_without_a_session_the_admin_role_or_the_csrf_token(
    admin_app: Any, staff_login: Any, seeded: Seeded
) -> None:
    async with client_for(admin_app) as anonymous:
        r = await anonymous.get("/admin/judges")
        assert r.status_code == 303
        assert r.headers["location"] == "/admin/login?next=/admin/judges"
        r = await anonymous.get("/admin/api/judge-runs")
        assert r.status_code == 401 and r.json() == {"detail": "Please log in."}
        anonymous.cookies.set(SESSION_COOKIE, "not-a-session", path="/admin")
        assert (await anonymous.post("/admin/api/judge-runs", json={})).status_code == 401
    mod = await staff_login("moderator", shared_account=True)
    for path in ("/admin/judges", f"/admin/judges/{seeded.run_id}", "/admin/api/judge-runs",
                 f"/admin/api/judge-runs/{seeded.run_id}"):
        assert (await mod.client.get(path)).status_code == 403, path
    body = {"judge": seeded.judge, "category_set": "visionarena"}
    assert (await mod.client.post("/admin/api/judge-runs", headers=mod.headers,
                                  json=body)).status_code == 403
    assert 'href="/admin/judges"' not in (await mod.client.get("/admin/")).text
    admin = await staff_login("admin", shared_account=True)
    r = await admin.client.post("/admin/api/judge-runs", json=body)  # no CSRF token
    assert r.status_code == 403 and "security token" in r.json()["detail"]
    r = await admin.client.post("/admin/judges/category-pass", data=body)
    assert r.status_code == 403
