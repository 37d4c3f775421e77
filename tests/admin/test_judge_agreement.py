"""The judges page's judge-human agreement: per judge, per model pair and per day, with the
Wilson interval, in the JSON API, the page (refreshing itself) and the plot.

The ratings are judgments of a ratings run made by the judge runner and answered the way
a worker answers (fenced attempt, the template's strict parser); the battles and votes are
rows like the arena's. The expected numbers are counted here by hand, and the interval is
the Wilson formula written out. The judge and models are this module's own."""

from __future__ import annotations

import math
import re
import secrets
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.db.judge_tables import Judgment
from app.db.models import Battle, ModelEntry, utcnow
from app.feedback.store import save_links
from app.judges import ASPECTS
from app.judges.inputs import ImageInput
from app.judges.results import ParseFailure
from app.judges.runs import JudgmentSpec, submit_run
from app.judges.templates import get_template, parse_output
from app.queue import WorkerInfo
from tests.admin.seed import add_battle, add_model, add_user
from workers import judgment_store
from workers.judge_jobs import parsed_json


def output(a: tuple[int, int, int], b: tuple[int, int, int]) -> str:
    lines = []
    for k, aspect in enumerate(ASPECTS):
        lines += [aspect, "Text 1", f"Rating: {a[k]}", "Rationale: first.", "Text 2",
                  f"Rating: {b[k]}", "Rationale: second."]
    return "\n".join(lines)


GOOD, BAD = (5, 5, 5), (1, 1, 5)
# (human vote, judge output on (A, B), which day): the judge agrees, disagrees or ties
CASES = [
    ("model_a", output(GOOD, BAD), 1),   # agree
    ("model_a", output(BAD, GOOD), 1),   # disagree
    ("model_b", output(BAD, GOOD), 0),   # agree
    ("model_b", output(BAD, GOOD), 0),   # agree
    ("model_a", output(GOOD, GOOD), 0),  # the judge ties: no pair, not in the rate
    ("tie", output(GOOD, BAD), 0),       # a tie vote: left out
    ("model_a", "Rating: great", 0),     # unparsable: no ratings at all
]


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


async def rate_battles(admin_app: Any, sm: Any, blobs: Any, tag: str, judge: str,
                       models: tuple[str, str], cases: list[tuple[str, str, int]]) -> None:
    """Voted battles between `models`, rated by `judge` in one ratings run (answered as a
    worker answers) and linked to their battles as the feedback job links them."""
    queue = admin_app.state.arena.queue
    await queue.heartbeat(WorkerInfo(worker_id=f"w-{tag}", model=judge), 3600)
    now = utcnow()
    battles = []
    for n, (vote, _, days_ago) in enumerate(cases):
        battles.append(uuid.UUID(await add_battle(
            sm, blobs, models=models, prompt=f"Question {n} {tag}?",
            answers=(f"Answer A {n}.", f"Answer B {n}."), review_status="none",
            winner=vote, created_at=now - timedelta(days=days_ago, minutes=30),
            ip_hash=f"fb-{tag}-{n}")))
    template = get_template("vlfeedback-ratings", 1)
    async with sm() as s:
        shas = dict((await s.execute(select(Battle.id, Battle.image_sha256)
                                     .where(Battle.id.in_(battles)))).all())
    specs = [JudgmentSpec(template, judge, {
        "image": ImageInput(shas[b]), "question": f"Question {n} {tag}?",
        "answers": [f"Answer A {n}.", f"Answer B {n}."]}, form="short", meta={"n": n})
        for n, b in enumerate(battles)]
    async with sm() as s:
        run = await submit_run(s, queue, kind="feedback-ratings", label=f"agreement {tag}",
                               specs=specs, created_by="tests")
        rows = dict((await s.execute(select(Judgment.id, Judgment.meta)
                                     .where(Judgment.run_id == run.id))).all())
        ids = {meta["n"]: jid for jid, meta in rows.items()}
        await save_links(s, run.id, [(ids[n], {
            "prompt_id": f"battle:{b}", "models": list(models), "battle_id": b,
            "side_a": 0, "side_b": 1}) for n, b in enumerate(battles)])
    for n, (_, raw, _) in enumerate(cases):
        async with sm() as s:
            ctx = await judgment_store.begin_attempt(s, str(ids[n]), "fb-test-worker")
        assert ctx is not None
        result = parse_output(template, raw, ctx.inputs)
        failure = str(result) if isinstance(result, ParseFailure) else None
        async with sm() as s:
            assert await judgment_store.save_result(
                s, str(ids[n]), ctx.attempt, raw_output=raw,
                parsed=None if failure else parsed_json(result), parse_error=failure,
                prompt_tokens=50, completion_tokens=40, latency_ms=2.0)


@pytest.fixture(scope="module")
async def rated(admin_app: Any, sm: Any, blobs: Any) -> dict[str, Any]:
    tag = secrets.token_hex(3)
    judge, models = f"fb-judge-{tag}", (f"fb-a-{tag}", f"fb-b-{tag}")
    for m in models:
        await add_model(sm, m)
    async with sm() as s:
        s.add(ModelEntry(name=judge, backend="openai", role="judge", ranked=False,
                         options={"judge_form": "short"}))
        await s.commit()
    await rate_battles(admin_app, sm, blobs, tag, judge, models, CASES)
    now = utcnow()
    return {"judge": judge, "models": models, "tag": tag, "today": now.date().isoformat(),
            "yesterday": (now - timedelta(days=1)).date().isoformat()}


def pick(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, rows)
    return found[0]


async def test_the_json_gives_agreement_per_judge_pair_and_day(
    staff_login: Any, rated: dict[str, Any]
) -> None:
    admin = await staff_login("admin", shared_account=True)
    r = await admin.client.get("/admin/api/judge-agreement")
    assert r.status_code == 200, r.text
    view = r.json()
    lo, hi = wilson(3, 4)
    mine = pick(view["judges"], judge=rated["judge"])
    assert (mine["n"], mine["agree"], mine["ai_ties"], mine["rate"]) == (4, 3, 1, 0.75)
    assert mine["ci_lower"] == pytest.approx(lo, abs=1e-9)
    assert mine["ci_upper"] == pytest.approx(hi, abs=1e-9)
    a, b = sorted(rated["models"])
    pair = pick(view["pairs"], judge=rated["judge"], model_a=a, model_b=b)
    assert (pair["n"], pair["agree"]) == (4, 3)
    today = pick(view["days"], judge=rated["judge"], day=rated["today"])
    yesterday = pick(view["days"], judge=rated["judge"], day=rated["yesterday"])
    assert (today["n"], today["agree"], today["ai_ties"]) == (2, 2, 1)
    assert (yesterday["n"], yesterday["agree"], yesterday["rate"]) == (2, 1, 0.5)
    assert view["left_out"].get("tie", 0) >= 1


async def test_the_page_and_the_plot(staff_login: Any, rated: dict[str, Any]) -> None:
    admin = await staff_login("admin", shared_account=True)
    r = await admin.client.get("/admin/judges")
    assert r.status_code == 200
    section = re.search(r'<section class="card" id="judge-agreement">(.*?)</section>', r.text,
                        re.S)
    assert section, r.text[:2000]
    html = section.group(1)
    assert 'hx-trigger="every 10s"' in html and 'id="agreement-plot"' in html
    row = re.search(rf'<tr class="agreement-judge" data-judge="{rated["judge"]}">(.*?)</tr>',
                    html, re.S)
    assert row and '<td class="rate">75.0%</td>' in row.group(1)
    assert '<td class="ties">1</td>' in row.group(1)
    lo, hi = wilson(3, 4)
    assert f"{100 * lo:.1f}% – {100 * hi:.1f}%" in row.group(1)
    assert f'data-day="{rated["yesterday"]}"' in html
    r = await admin.client.get("/admin/judge-agreement.svg")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in r.content[:500]


async def test_admins_only(staff_login: Any, rated: dict[str, Any]) -> None:
    moderator = await staff_login("moderator")
    for path in ("/admin/api/judge-agreement", "/admin/judge-agreement.svg"):
        assert (await moderator.client.get(path)).status_code == 403


@pytest.mark.browser
async def test_the_section_refreshes_itself_in_chromium(
    admin_app: Any, sm: Any, blobs: Any, admin_server: Any, page: Any
) -> None:
    tag = secrets.token_hex(3)
    judge, models = f"fb-live-{tag}", (f"fb-c-{tag}", f"fb-d-{tag}")
    for m in models:
        await add_model(sm, m)
    async with sm() as s:
        s.add(ModelEntry(name=judge, backend="openai", role="judge", ranked=False))
        await s.commit()
    await rate_battles(admin_app, sm, blobs, tag, judge, models, CASES[:2])  # 1 of 2
    username, password = await add_user(sm, "admin")
    base = admin_server.url
    await page.goto(f"{base}/admin/judges")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/admin/judges")
    cell = f'#agreement-by-judge tr[data-judge="{judge}"] td.rate'
    assert await page.locator(cell).inner_text() == "50.0%"
    plot = await page.locator("#agreement-plot").element_handle()
    await page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=plot)
    # a battle where the judge agrees with the vote: the page shows 2 of 3 by itself
    await rate_battles(admin_app, sm, blobs, tag + "x", judge, models, CASES[:1])
    await page.wait_for_function(
        "sel => document.querySelector(sel)?.textContent === '66.7%'", arg=cell,
        timeout=30_000)
