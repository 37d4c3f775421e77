"""The vote-integrity report: each signal finds what it should and leaves honest votes."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from app.admin.integrity import (
    IntegrityParams,
    VoteRecord,
    disagreement_sprt,
    fast_votes,
    load_votes,
    vote_bursts,
)
from app.db.admin_tables import AuditLog
from app.db.models import Vote, utcnow
from tests.admin.conftest import MODELS
from tests.admin.seed import add_battle, add_visitor

T0 = utcnow() - timedelta(days=1)
PARAMS = IntegrityParams()


def vote(visitor: str, winner: str, pair: tuple[str, str] = ("strong", "weak"), *,
         at_s: float = 0.0, ip: str | None = None, chars: int = 200,
         delay_s: float = 60.0) -> VoteRecord:
    created = T0 + timedelta(seconds=at_s)
    return VoteRecord(
        battle_id=str(uuid.uuid4()), visitor_id=visitor, ip_hash=ip or f"ip-{visitor}",
        winner=winner, model_a=pair[0], model_b=pair[1], created_at=created,
        answer_chars=chars, answers_finished_at=created - timedelta(seconds=delay_s),
    )


def crowd(rng: random.Random, visitors: int, p_first: float, pair: tuple[str, str],
          votes_each: int = 3) -> list[VoteRecord]:
    return [
        vote(f"honest-{pair[0]}-{v}", "model_a" if rng.random() < p_first else "model_b", pair,
             at_s=v * 100 + i)
        for v in range(visitors) for i in range(votes_each)
    ]


def test_a_visitor_who_always_votes_against_a_clear_consensus_is_flagged() -> None:
    rng = random.Random(7)
    votes = crowd(rng, 60, 0.85, ("strong", "weak"))
    shill = [vote("shill", "model_b", at_s=10_000 + i) for i in range(12)]
    findings = {f.visitor_id: f for f in disagreement_sprt(votes + shill, PARAMS)}
    assert findings["shill"].decision == "flag"
    assert findings["shill"].disagreements == findings["shill"].tested
    assert set(findings["shill"].battle_ids) <= {v.battle_id for v in shill}
    flagged = [f for f in findings.values() if f.decision == "flag"]
    assert [f.visitor_id for f in flagged] == ["shill"]


def test_no_consensus_gives_no_evidence() -> None:
    rng = random.Random(3)
    votes = crowd(rng, 60, 0.5, ("even-1", "even-2"))
    contrarian = [vote("contrarian", "model_b", ("even-1", "even-2"), at_s=9_000 + i)
                  for i in range(30)]
    findings = {f.visitor_id: f for f in disagreement_sprt(votes + contrarian, PARAMS)}
    assert findings["contrarian"].decision != "flag"


def test_ties_side_by_side_and_excluded_votes_are_not_tested() -> None:
    rng = random.Random(5)
    votes = crowd(rng, 40, 0.9, ("strong", "weak"))
    other = [vote("x", "tie", at_s=1), vote("x", "tie (bothbad)", at_s=2)]
    hidden = [VoteRecord(**{**vote("y", "model_b").__dict__, "anonymous": False}),
              VoteRecord(**{**vote("z", "model_b").__dict__, "excluded": True})]
    ids = {f.visitor_id for f in disagreement_sprt(votes + other + hidden, PARAMS)}
    assert not ids & {"x", "y", "z"}


def test_fast_votes_scale_with_answer_length() -> None:
    short_quick = vote("a", "model_a", chars=20, delay_s=3.0)  # needs 1.5 + 0.5 s
    long_quick = vote("b", "model_a", chars=2000, delay_s=3.0)  # needs 1.5 + 50 s
    long_slow = vote("c", "model_a", chars=2000, delay_s=90.0)
    instant = vote("d", "model_a", chars=0, delay_s=0.2)
    found = {f.visitor_id: f for f in fast_votes([short_quick, long_quick, long_slow, instant],
                                                 PARAMS)}
    assert set(found) == {"b", "d"}
    assert found["b"].needed_s == 51.5 and found["b"].seconds == 3.0


def test_bursts_from_one_ip() -> None:
    burst = [vote(f"v{i}", "model_a", ip="busy", at_s=i * 1.5) for i in range(25)]
    spread = [vote(f"w{i}", "model_a", ip="calm", at_s=i * 120) for i in range(25)]
    lone_after = [vote("late", "model_a", ip="busy", at_s=5_000)]
    bursts = vote_bursts(burst + spread + lone_after, PARAMS)
    assert [(b.ip_hash, b.count) for b in bursts] == [("busy", 25)]
    assert set(bursts[0].battle_ids) == {v.battle_id for v in burst}


async def test_report_page_and_reversible_exclusion(staff_login: Any, sm: Any) -> None:
    visitor = await add_visitor(sm, "ip-integrity")
    quick = await add_battle(sm, None, models=MODELS, visitor_id=visitor, winner="model_a",
                             answers=("x" * 800, "y" * 800), vote_delay_s=2.0,
                             review_status="none", moderation={})
    async with sm() as s:
        loaded = {v.battle_id: v for v in await load_votes(s)}
    assert loaded[quick].answer_chars == 1600
    assert loaded[quick].winner == "model_a" and loaded[quick].model_b == MODELS[1]

    admin = await staff_login("admin", shared_account=True)
    report = (await admin.client.get("/admin/api/integrity")).json()
    assert quick in [f["battle_id"] for f in report["fast"]]
    page = (await admin.client.get("/admin/integrity")).text
    assert quick[:8] in page

    r = await admin.client.post("/admin/integrity/exclude", headers=admin.headers,
                                data={"battle_ids": [quick], "reason": "too fast"})
    assert r.status_code == 200 and "1 vote(s) excluded" in r.text
    async with sm() as s:
        v = await s.get(Vote, uuid.UUID(quick))
        assert (v.excluded, v.excluded_reason) == (True, "too fast")
    r = await admin.client.post("/admin/api/votes/include", headers=admin.headers,
                                json={"battle_ids": [quick]})
    assert r.json() == {"changed": 1}
    async with sm() as s:
        v = await s.get(Vote, uuid.UUID(quick))
        assert (v.excluded, v.excluded_reason) == (False, None)
        entries = (await s.scalars(select(AuditLog).where(
            AuditLog.target == f"vote:{quick}").order_by(AuditLog.at))).all()
    assert [(e.action, e.before["excluded"], e.after["excluded"]) for e in entries] == [
        ("vote.exclude", False, True), ("vote.include", True, False)]
