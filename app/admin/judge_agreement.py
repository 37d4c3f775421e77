"""The judges page's agreement section: how often each judge's VLFeedback ratings prefer
the answer people voted for, per judge, per model pair and per day, with 95% Wilson
intervals (app/feedback/agreement.py computes; app/feedback/store.py queries).

Pydantic models out, which the JSON API returns as they are; the page shows the same
tables and a plot of the daily rate per judge.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.charts import line_chart_svg
from app.db.models import utcnow
from app.feedback.agreement import Rate, agreement
from app.feedback.store import agreement_items


class RateOut(BaseModel):
    n: int  # battles compared (a decisive vote, and the judge prefers a side)
    agree: int
    ai_ties: int  # the judge rated both sides the same: no pair, not in the rate
    rate: float | None
    ci_lower: float | None
    ci_upper: float | None


class JudgeRate(RateOut):
    judge: str


class PairRate(RateOut):
    judge: str
    model_a: str
    model_b: str


class DayRate(RateOut):
    judge: str
    day: str  # YYYY-MM-DD (UTC) of the votes


class JudgeAgreementView(BaseModel):
    """Response of GET /admin/api/judge-agreement."""

    generated_at: datetime
    overall: RateOut
    judges: list[JudgeRate]
    pairs: list[PairRate]
    days: list[DayRate]
    left_out: dict[str, int]  # rated battles without a decisive, countable vote, by reason


def _out(rate: Rate) -> dict[str, object]:
    return rate.as_json()


async def judge_agreement_view(session: AsyncSession) -> JudgeAgreementView:
    items, left_out = await agreement_items(session)
    report = agreement(items)
    return JudgeAgreementView(
        generated_at=utcnow(), overall=RateOut(**_out(report.overall)),
        judges=[JudgeRate(judge=j, **_out(r)) for j, r in report.by_judge.items()],
        pairs=[PairRate(judge=j, model_a=a, model_b=b, **_out(r))
               for (j, a, b), r in report.by_pair.items()],
        days=[DayRate(judge=j, day=d, **_out(r)) for (j, d), r in report.by_day.items()],
        left_out=dict(sorted(left_out.items())))


async def agreement_plot_svg(view: JudgeAgreementView) -> bytes:
    """The daily agreement (percent) of each judge; a day without data draws as 0."""
    days = sorted({d.day for d in view.days})
    series: dict[str, list[int]] = {}
    for d in view.days:
        values = series.setdefault(d.judge, [0] * len(days))
        values[days.index(d.day)] = round(100 * d.rate) if d.rate is not None else 0
    return await line_chart_svg("Judge-human agreement per day (%)", days, series)
