"""The combined human + judge board through the pipeline on PostgreSQL: a finished bench
judge run's stored verdicts (written here as the bench's runner stores them: meta with
candidate, anchor and first position, the parsed verdict) join the human votes; weight 0
reproduces the human board exactly."""

from __future__ import annotations

import random
import uuid

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.db.judge_tables import JudgeRun, Judgment
from app.leaderboard.compute import LeaderboardParams
from app.leaderboard.pipeline import compute_run
from tests.leaderboard.simulate import (
    STRENGTHS,
    add_models,
    add_visitors,
    insert_battles,
    random_battles,
)

ANCHOR = "gamma-vl"
# The stored judge prefers delta (the weakest by human votes) over the anchor.
JUDGE_PREFERS = {"alpha-vl": "A>B", "beta-vl": "A=B", "delta-vl": "A>>B"}
SWAPPED = {"A>B": "B>A", "A=B": "A=B", "A>>B": "B>>A"}  # the candidate at position B


async def add_judge_run(session, judge_model: str) -> None:  # type: ignore[no-untyped-def]
    run = JudgeRun(kind="bench-judge", label="bench@1 judged by test", status="done")
    session.add(run)
    await session.flush()
    rng = random.Random(1)
    for candidate, verdict in JUDGE_PREFERS.items():
        for q in range(40):
            for first in ("candidate", "anchor"):
                v = verdict if first == "candidate" else SWAPPED[verdict]
                v = v if rng.random() < 0.9 else "A=B"
                session.add(Judgment(
                    run_id=run.id, task="bench-pairwise", template_version=1,
                    judge_model=judge_model, inputs_hash=uuid.uuid4().hex, repetition=0,
                    inputs={}, sampling={}, status="done", parsed={"value": v},
                    meta={"bench": "bench@1", "question_id": f"q{q}", "candidate": candidate,
                          "anchor": ANCHOR, "first": first}))
    await session.commit()


async def test_combined_board_and_weight_zero(lb_sm: async_sessionmaker) -> None:
    async with lb_sm() as session:
        await add_models(session, [*sorted(STRENGTHS), "omega-vl"])
        visitors = await add_visitors(session, 20)
        await insert_battles(session, random_battles(300, seed=31, visitors=visitors))
        await add_judge_run(session, "omega-vl")
    base = LeaderboardParams(n_bootstrap=60, min_slice_votes=10**9)
    run = await compute_run(lb_sm, params=base)
    combined = run.board("combined")
    assert combined is not None
    about = combined.payload["judge"]
    assert about["games"] > 0 and about["unparsable"] == 0 and about["judge"] == "omega-vl"
    human = {r["model"]: r["rating"] for r in run.board("default").payload["rows"]}
    mixed = {r["model"]: r["rating"] for r in combined.payload["rows"]}
    # the judge lifts delta relative to the anchor
    assert mixed["delta-vl"] - mixed[ANCHOR] > human["delta-vl"] - human[ANCHOR] + 20

    zero = await compute_run(lb_sm, params=LeaderboardParams(
        n_bootstrap=60, min_slice_votes=10**9, judge_weight=0.0))
    z = zero.board("combined")
    d = zero.board("default")
    assert z is not None and d is not None
    for key in ("rows", "models", "winrate", "reweighting"):
        assert z.payload[key] == d.payload[key]
    assert z.payload["judge"]["weight"] == 0.0

    # under another tie rule the combined fit counts the human votes' ties the same way
    grounded = await compute_run(lb_sm, params=LeaderboardParams(
        n_bootstrap=60, min_slice_votes=10**9, judge_weight=0.0, ties="grounded"))
    z, d = grounded.board("combined"), grounded.board("default")
    assert z is not None and d is not None
    for key in ("rows", "models", "winrate", "reweighting", "ties"):
        assert z.payload[key] == d.payload[key]
    assert d.payload["ties"]["method"] == "grounded" and "line" in d.payload["ties"]
    assert d.payload["rows"] != zero.board("default").payload["rows"]
