"""The vote-integrity report: three signals that a vote may not be an honest judgement.

1. Disagreement: a visitor whose votes go against the crowd far more than chance. For each
   of the visitor's decisive anonymous votes, the leave-one-visitor-out consensus of that
   model pair gives r = P(an honest voter disagrees with the majority). Wald's sequential
   probability ratio test weighs H0 "disagrees with probability r" against H1 "disagrees
   with probability 1 - r" (votes the opposite of the crowd as reliably as the crowd
   agrees); pairs without a consensus (r near 1/2) carry no evidence either way.
2. Too fast: the vote came sooner after the later answer finished than anyone could read
   both answers (a floor plus the answers' length over a reading speed).
3. Bursts: many votes from one IP hash inside a short window.

Pure functions over `VoteRecord`s; `load_votes` reads them from the database, and
`set_votes_excluded` is the operator's (reversible, audited) action.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.audit import record
from app.db.models import Battle, Generation, Turn, Vote, utcnow

DECISIVE = ("model_a", "model_b")


@dataclass(frozen=True)
class IntegrityParams:
    alpha: float = 0.001  # false alarm rate per visitor (many visitors are tested)
    beta: float = 0.05
    min_pair_votes: int = 5  # other visitors' votes a pair needs to have a consensus
    min_read_s: float = 1.5
    read_chars_per_s: float = 40.0  # fast skimming of two answers side by side
    burst_votes: int = 20
    burst_window_s: float = 60.0
    since_days: int = 30


@dataclass(frozen=True)
class VoteRecord:
    battle_id: str
    visitor_id: str
    ip_hash: str
    winner: str
    model_a: str
    model_b: str | None
    created_at: datetime
    anonymous: bool = True
    excluded: bool = False
    excluded_reason: str | None = None
    answer_chars: int = 0  # both answers of the voted turn
    answers_finished_at: datetime | None = None  # when the later one finished


@dataclass
class DisagreementFinding:
    visitor_id: str
    llr: float
    decision: str  # flag | clear | undecided
    tested: int
    disagreements: int
    expected: float
    battle_ids: list[str] = field(default_factory=list)


@dataclass
class FastVote:
    battle_id: str
    visitor_id: str
    seconds: float
    needed_s: float
    answer_chars: int
    excluded: bool


@dataclass
class Burst:
    ip_hash: str
    count: int
    start: datetime
    end: datetime
    battle_ids: list[str]


@dataclass
class IntegrityReport:
    disagreement: list[DisagreementFinding]
    fast: list[FastVote]
    bursts: list[Burst]
    votes_considered: int
    params: IntegrityParams


def _pair(v: VoteRecord) -> tuple[str, str]:
    return tuple(sorted((v.model_a, v.model_b or "")))  # type: ignore[return-value]


def _chosen(v: VoteRecord) -> str:
    return v.model_a if v.winner == "model_a" else (v.model_b or "")


def disagreement_sprt(
    votes: list[VoteRecord], params: IntegrityParams
) -> list[DisagreementFinding]:
    """SPRT per visitor against the leave-one-visitor-out consensus of each pair."""
    usable = [
        v for v in votes
        if v.anonymous and not v.excluded and v.winner in DECISIVE and v.model_b
        and v.model_a != v.model_b
    ]
    wins: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    mine: dict[str, dict[tuple[str, str], dict[str, int]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(int))
    )
    by_visitor: dict[str, list[VoteRecord]] = defaultdict(list)
    for v in usable:
        wins[_pair(v)][_chosen(v)] += 1
        mine[v.visitor_id][_pair(v)][_chosen(v)] += 1
        by_visitor[v.visitor_id].append(v)

    upper = math.log((1 - params.beta) / params.alpha)
    lower = math.log(params.beta / (1 - params.alpha))
    findings = []
    for visitor, own in by_visitor.items():
        llr, tested, disagreed, expected = 0.0, 0, 0, 0.0
        decision, evidence = "undecided", []
        for v in sorted(own, key=lambda x: x.created_at):
            pair, chosen = _pair(v), _chosen(v)
            other = next(m for m in pair if m != chosen)
            chosen_n = wins[pair][chosen] - mine[visitor][pair][chosen]
            other_n = wins[pair][other] - mine[visitor][pair][other]
            if chosen_n + other_n < params.min_pair_votes:
                continue
            p_chosen = (chosen_n + 1) / (chosen_n + other_n + 2)  # Laplace-smoothed
            r = min(p_chosen, 1 - p_chosen)
            disagrees = p_chosen < 0.5
            tested += 1
            expected += r
            if disagrees:
                disagreed += 1
                evidence.append(v.battle_id)
            llr += math.log((1 - r) / r) if disagrees else math.log(r / (1 - r))
            if llr >= upper:
                decision = "flag"
                break
            if llr <= lower:
                decision = "clear"
                break
        if tested:
            findings.append(DisagreementFinding(
                visitor_id=visitor, llr=round(llr, 3), decision=decision, tested=tested,
                disagreements=disagreed, expected=round(expected, 2), battle_ids=evidence,
            ))
    findings.sort(key=lambda f: -f.llr)
    return findings


def fast_votes(votes: list[VoteRecord], params: IntegrityParams) -> list[FastVote]:
    """Votes cast sooner after the later answer finished than the answers take to read."""
    found = []
    for v in votes:
        if v.answers_finished_at is None:
            continue
        seconds = (v.created_at - v.answers_finished_at).total_seconds()
        needed = params.min_read_s + v.answer_chars / params.read_chars_per_s
        if seconds < needed:
            found.append(FastVote(v.battle_id, v.visitor_id, round(seconds, 2),
                                  round(needed, 2), v.answer_chars, v.excluded))
    found.sort(key=lambda f: f.seconds - f.needed_s)
    return found


def vote_bursts(votes: list[VoteRecord], params: IntegrityParams) -> list[Burst]:
    """Runs of >= burst_votes votes from one IP hash within burst_window_s of each other."""
    by_ip: dict[str, list[VoteRecord]] = defaultdict(list)
    for v in votes:
        by_ip[v.ip_hash].append(v)
    window = timedelta(seconds=params.burst_window_s)
    bursts = []
    for ip, own in by_ip.items():
        own.sort(key=lambda x: x.created_at)
        marked = [False] * len(own)
        start = 0
        for end in range(len(own)):
            while own[end].created_at - own[start].created_at > window:
                start += 1
            if end - start + 1 >= params.burst_votes:
                for i in range(start, end + 1):
                    marked[i] = True
        run: list[VoteRecord] = []
        for v, m in [*zip(own, marked, strict=True), (None, False)]:
            if m and v is not None:
                run.append(v)
            elif run:
                bursts.append(Burst(ip, len(run), run[0].created_at, run[-1].created_at,
                                    [r.battle_id for r in run]))
                run = []
    bursts.sort(key=lambda b: -b.count)
    return bursts


def build_report(votes: list[VoteRecord], params: IntegrityParams) -> IntegrityReport:
    return IntegrityReport(
        disagreement=[f for f in disagreement_sprt(votes, params) if f.decision == "flag"],
        fast=fast_votes(votes, params),
        bursts=vote_bursts(votes, params),
        votes_considered=len(votes),
        params=params,
    )


async def integrity_report(session: AsyncSession, params: IntegrityParams) -> IntegrityReport:
    """The report over the last `params.since_days`: the votes are read here, the signals
    (a sequential test per visitor, sorting, burst scans over every vote) computed in a
    thread, so a large window never stalls the event loop."""
    votes = await load_votes(session, utcnow() - timedelta(days=params.since_days))
    return await asyncio.to_thread(build_report, votes, params)


async def excluded_votes(session: AsyncSession, limit: int = 200) -> list[Vote]:
    """The votes operators excluded, newest first."""
    return list((await session.scalars(
        select(Vote).where(Vote.excluded.is_(True)).order_by(Vote.created_at.desc()).limit(limit)
    )).all())


async def load_votes(session: AsyncSession, since: datetime | None = None) -> list[VoteRecord]:
    """Votes since `since` with their battle's models and the voted turn's answers."""
    since = since or utcnow() - timedelta(days=IntegrityParams().since_days)
    rows = (await session.execute(
        select(Vote, Battle.model_a, Battle.model_b)
        .join(Battle, Battle.id == Vote.battle_id)
        .where(Vote.created_at >= since)
    )).all()
    if not rows:
        return []
    last_turn = (
        select(Turn.battle_id, func.max(Turn.index).label("idx"))
        .join(Vote, Vote.battle_id == Turn.battle_id)
        .where(Vote.created_at >= since)
        .group_by(Turn.battle_id)
        .subquery()
    )
    gens = (await session.execute(
        select(Turn.battle_id, Generation.finished_at, func.length(Generation.text))
        .join(Generation, Generation.turn_id == Turn.id)
        .join(last_turn, (last_turn.c.battle_id == Turn.battle_id)
              & (last_turn.c.idx == Turn.index))
    )).all()
    answers: dict[uuid.UUID, tuple[datetime | None, int]] = {}
    for battle_id, finished, length in gens:
        done, chars = answers.get(battle_id, (None, 0))
        finished = _aware(finished)
        if finished is not None and (done is None or finished > done):
            done = finished
        answers[battle_id] = (done, chars + int(length or 0))
    out = []
    for vote, model_a, model_b in rows:
        done, chars = answers.get(vote.battle_id, (None, 0))
        out.append(VoteRecord(
            battle_id=str(vote.battle_id), visitor_id=str(vote.visitor_id),
            ip_hash=vote.ip_hash, winner=vote.winner, model_a=model_a, model_b=model_b,
            created_at=_aware(vote.created_at), anonymous=vote.anonymous,
            excluded=vote.excluded, excluded_reason=vote.excluded_reason,
            answer_chars=chars, answers_finished_at=done,
        ))
    return out


async def set_votes_excluded(
    session: AsyncSession, battle_ids: list[str], excluded: bool, reason: str | None,
    actor: str,
) -> int:
    """Exclude votes from ranking (or include them again); one audit entry per vote."""
    ids = []
    for b in battle_ids:
        try:
            ids.append(uuid.UUID(str(b)))
        except ValueError:
            continue
    if not ids:
        return 0
    votes = (await session.scalars(
        select(Vote).where(Vote.battle_id.in_(ids)).with_for_update()
    )).all()
    changed = 0
    for vote in votes:
        before: dict[str, Any] = {"excluded": vote.excluded, "reason": vote.excluded_reason}
        if vote.excluded == excluded and (not excluded or vote.excluded_reason == reason):
            continue
        vote.excluded = excluded
        vote.excluded_reason = (reason or "excluded by an operator") if excluded else None
        record(session, actor, "vote.exclude" if excluded else "vote.include",
               f"vote:{vote.battle_id}", before,
               {"excluded": vote.excluded, "reason": vote.excluded_reason})
        changed += 1
    await session.commit()
    return changed


def _aware(value: datetime | None) -> datetime | None:
    from datetime import UTC

    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def ranking_robustness(session: AsyncSession) -> dict[str, Any] | None:
    """The robustness audit of the newest leaderboard run (app.ranking.robustness): how
    far the top of the board moves when its most influential 1% of votes or of visitors
    are dropped, predicted by one Newton step and checked by refitting. Stored with the
    run (and its export); None before a run with enough votes."""
    from app.leaderboard.snapshots import latest_snapshot

    view = await latest_snapshot(session)
    if view is None or view.snapshot.kind != "default":
        return None
    return (view.snapshot.payload or {}).get("robustness")
