"""AI-human agreement (pure): how often the judge's ratings prefer the answer a person
voted for, on battles that have both a decisive human vote and AI ratings of both sides.

The AI side is the answer with the higher (weighted) mean of the three aspect ratings, the
same score the pair rule uses (``app.judges.verdicts.answer_scores``). When the AI rates
both sides the same it makes no pair (VLFeedback drops exact ties), so such a battle is
counted as an ``ai_tie`` and kept out of the rate; human ties and both-bad votes never get
here (they make no human pair). The rate comes with a 95% Wilson interval (VLFeedback
reports 76% for GPT-4V against people), overall, per judge, per model pair and per day.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from scipy.stats import binomtest

HumanSide = Literal["model_a", "model_b"]
CONFIDENCE = 0.95


@dataclass(frozen=True)
class AgreementItem:
    """One battle: the human's decisive vote and the judge's scores of its two answers."""

    battle_id: str
    judge: str
    model_a: str
    model_b: str
    human: HumanSide
    score_a: float
    score_b: float
    voted_at: datetime

    def __post_init__(self) -> None:
        if self.human not in ("model_a", "model_b"):
            raise ValueError(f"battle {self.battle_id}: the human vote must be decisive "
                             f"(model_a or model_b), got {self.human!r}")

    @property
    def ai(self) -> HumanSide | None:
        """The side the judge prefers; None when it rates both the same."""
        if self.score_a == self.score_b:
            return None
        return "model_a" if self.score_a > self.score_b else "model_b"

    @property
    def pair(self) -> tuple[str, str]:
        """The model pair, order-free."""
        a, b = sorted((self.model_a, self.model_b))
        return a, b


@dataclass(frozen=True)
class Rate:
    """Agreements out of compared battles, with the Wilson interval (None when n = 0)."""

    n: int
    agree: int
    ai_ties: int
    rate: float | None
    ci_lower: float | None
    ci_upper: float | None

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def wilson(agree: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The Wilson score interval of ``agree / n`` (scipy's), None for n = 0."""
    if n == 0:
        return None
    ci = binomtest(agree, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def rate(items: Iterable[AgreementItem]) -> Rate:
    n = agree = ties = 0
    for item in items:
        side = item.ai
        if side is None:
            ties += 1
            continue
        n += 1
        agree += side == item.human
    ci = wilson(agree, n)
    return Rate(n, agree, ties, agree / n if n else None,
                ci[0] if ci else None, ci[1] if ci else None)


def _grouped(items: Sequence[AgreementItem], key: Callable[[AgreementItem], Hashable]
             ) -> dict[Any, Rate]:
    groups: dict[Any, list[AgreementItem]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return {k: rate(v) for k, v in sorted(groups.items())}


@dataclass(frozen=True)
class AgreementReport:
    overall: Rate
    by_judge: dict[str, Rate]
    by_pair: dict[tuple[str, str, str], Rate]  # (judge, model, model)
    by_day: dict[tuple[str, str], Rate]  # (judge, YYYY-MM-DD of the vote, UTC)

    def as_json(self) -> dict[str, Any]:
        return {
            "overall": self.overall.as_json(),
            "by_judge": {j: r.as_json() for j, r in self.by_judge.items()},
            "by_pair": [{"judge": j, "model_a": a, "model_b": b, **r.as_json()}
                        for (j, a, b), r in self.by_pair.items()],
            "by_day": [{"judge": j, "day": d, **r.as_json()}
                       for (j, d), r in self.by_day.items()],
            "confidence": CONFIDENCE, "interval": "wilson",
        }


def agreement(items: Iterable[AgreementItem]) -> AgreementReport:
    """Agreement overall, per judge, per (judge, model pair) and per (judge, day)."""
    rows = list(items)
    return AgreementReport(
        overall=rate(rows),
        by_judge=_grouped(rows, lambda i: i.judge),
        by_pair=_grouped(rows, lambda i: (i.judge, *i.pair)),
        by_day=_grouped(rows, lambda i: (i.judge, i.voted_at.date().isoformat())),
    )
