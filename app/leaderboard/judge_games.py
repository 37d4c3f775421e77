"""Judge verdicts for the combined human + judge board: the pairwise verdicts of the
latest finished bench judge run, as ``(model at position A, model at B, verdict)``.

Which model sat at which position is in each judgment's ``meta`` (the bench writes
``candidate``, ``anchor`` and ``first``); turning verdicts into games is
``app.judges.verdicts``' job, as everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.judge_tables import JudgeRun, Judgment
from app.judges.verdicts import Judged


@dataclass(frozen=True)
class JudgeGames:
    run_id: str
    label: str
    judge: str
    verdicts: tuple[tuple[str, str, Judged], ...]


async def latest_judge_games(session: AsyncSession) -> JudgeGames | None:
    """None before any finished bench judge run."""
    from app.bench.runner import JUDGE_KIND, judged  # the bench imports the leaderboard

    run = await session.scalar(
        select(JudgeRun).where(JudgeRun.kind == JUDGE_KIND, JudgeRun.status == "done")
        .order_by(JudgeRun.created_at.desc(), JudgeRun.id).limit(1))
    if run is None:
        return None
    rows = (await session.scalars(select(Judgment).where(Judgment.run_id == run.id)
                                  .order_by(Judgment.id))).all()
    verdicts = []
    judges = set()
    for row in rows:
        meta = row.meta or {}
        verdict = judged(row, row.task)
        if verdict is None or not {"candidate", "anchor", "first"} <= set(meta):
            continue
        pair = (meta["candidate"], meta["anchor"])
        a, b = pair if meta["first"] == "candidate" else pair[::-1]
        verdicts.append((str(a), str(b), verdict))
        judges.add(row.judge_model)
    return JudgeGames(str(run.id), run.label, ", ".join(sorted(judges)), tuple(verdicts))
