"""The bench's score and its agreement with the arena (pure: no database).

Arena-Hard's method on VisionArena-Bench: every candidate answer is judged against the
anchor model's answer twice, with the positions swapped; the judgments become games
(``app.judges.verdicts``: a strong verdict counts three times, an unparsable one not at
all); Bradley-Terry over all games gives each model's probability of beating the anchor
(the anchor is 50%), with a 95% bootstrap interval. Next to it: the verdict counts from the
candidate's side, the mean reward (+100 .. -100), the average answer length in tokens, and
how often the two orders agreed. The agreement with the arena compares these intervals with
the latest leaderboard snapshot's (``app.ranking.agreement``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from app.judges.results import ParseFailure, Verdict
from app.judges.verdicts import (
    Judged,
    combine_swapped,
    judged_battles,
    reward,
    verdict_score,
)
from app.ranking.agreement import Interval, agreement, win_rate_vs_anchor

# A candidate's verdict labels, from its own side (+2 .. -2), as Arena-Hard's tables show.
LABELS: Mapping[int, str] = {2: "much_better", 1: "better", 0: "tie", -1: "worse",
                             -2: "much_worse"}
LABEL_ORDER: tuple[str, ...] = ("much_better", "better", "tie", "worse", "much_worse",
                                "unparsable", "failed")


class ScoreError(ValueError):
    """Nothing can be scored (no parsable judgment at all); the message says why."""


@dataclass(frozen=True)
class PairJudgment:
    """One question's two judgments of a candidate against the anchor. ``None``: the
    judgment job itself failed (engine error), which, like an unparsable verdict, counts
    no game but is reported separately."""

    candidate: str
    question_id: str
    candidate_as_a: Judged | None
    candidate_as_b: Judged | None


@dataclass(frozen=True)
class ScoreRow:
    model: str
    win_rate: float | None  # percent; None when no judgment of the model parsed
    ci_lower: float | None
    ci_upper: float | None
    verdicts: dict[str, int]
    reward: float | None  # mean over parsable judgments, +100 .. -100
    answer_tokens: float | None  # mean completion tokens of its bench answers
    questions: int  # questions judged (both orders submitted)
    consistent: float | None  # share of questions whose two orders agree on the side
    anchor: bool = False


@dataclass(frozen=True)
class BenchScore:
    anchor: str
    rows: list[ScoreRow]
    games: int
    unparsable: int
    failed: int
    n_bootstrap: int
    seed: int
    level: float
    params: dict[str, Any] = field(default_factory=dict)

    def intervals(self) -> dict[str, Interval]:
        """``{model: (lower, upper, win rate)}`` in percent, the anchor as (50, 50, 50)."""
        return {r.model: (r.ci_lower, r.ci_upper, r.win_rate)  # type: ignore[misc]
                for r in self.rows if r.win_rate is not None}

    def as_json(self) -> dict[str, Any]:
        return {"anchor": self.anchor, "games": self.games, "unparsable": self.unparsable,
                "failed": self.failed, "n_bootstrap": self.n_bootstrap, "seed": self.seed,
                "level": self.level, "params": self.params,
                "rows": [asdict(r) for r in self.rows]}


def _label(judged: Judged | None, side: str) -> str:
    if judged is None:
        return "failed"
    if isinstance(judged, ParseFailure):
        return "unparsable"
    return LABELS[verdict_score(judged, side)]  # type: ignore[arg-type]


def score_bench(anchor: str, pairs: Iterable[PairJudgment],
                answer_tokens: Mapping[str, Sequence[int]] | None = None, *,
                n_bootstrap: int = 100, seed: int = 0, level: float = 0.95,
                params: Mapping[str, Any] | None = None) -> BenchScore:
    """Score the candidates of ``pairs`` against ``anchor``; rows best first (ties by name),
    the anchor among them at 50%."""
    pairs = list(pairs)
    tokens = answer_tokens or {}
    rows_for_bt: list[tuple[str, str, Judged]] = []
    counts: dict[str, Counter[str]] = {}
    rewards: dict[str, list[int]] = {}
    agree: dict[str, list[bool]] = {}
    n_questions: Counter[str] = Counter()
    failed = 0
    for p in pairs:
        if p.candidate == anchor:
            raise ValueError("the anchor is not a candidate against itself")
        c = counts.setdefault(p.candidate, Counter())
        n_questions[p.candidate] += 1
        for judged, side, first in ((p.candidate_as_a, "A", True),
                                    (p.candidate_as_b, "B", False)):
            c[_label(judged, side)] += 1
            if judged is None:
                failed += 1
                continue
            rows_for_bt.append((p.candidate, anchor, judged) if first
                               else (anchor, p.candidate, judged))
            value = reward(judged, side)  # type: ignore[arg-type]
            if value is not None:
                rewards.setdefault(p.candidate, []).append(value)
        if isinstance(p.candidate_as_a, Verdict) and isinstance(p.candidate_as_b, Verdict):
            combined = combine_swapped(p.candidate_as_a, p.candidate_as_b)
            agree.setdefault(p.candidate, []).append(bool(combined.consistent))
    models = sorted({anchor, *counts})
    battles, unparsable = judged_battles(rows_for_bt, models=models)
    intervals: dict[str, Interval] = {}
    if len(battles) > 0:
        intervals = win_rate_vs_anchor(battles, anchor, n_bootstrap=n_bootstrap,
                                       level=level, seed=seed)
    elif pairs:
        raise ScoreError(f"no judgment parsed ({unparsable} unparsable, {failed} failed): "
                         "nothing to score")

    def mean(xs: Sequence[float]) -> float | None:
        return float(sum(xs)) / len(xs) if xs else None

    out = []
    for m in models:
        iv = intervals.get(m)
        is_anchor = m == anchor
        out.append(ScoreRow(
            model=m,
            win_rate=50.0 if is_anchor else (None if iv is None else 100 * iv[2]),
            ci_lower=50.0 if is_anchor else (None if iv is None else 100 * iv[0]),
            ci_upper=50.0 if is_anchor else (None if iv is None else 100 * iv[1]),
            verdicts={k: counts.get(m, Counter())[k] for k in LABEL_ORDER},
            reward=mean(rewards.get(m, [])),
            answer_tokens=mean(list(tokens.get(m, []))),
            questions=n_questions[m],
            consistent=mean([float(x) for x in agree.get(m, [])]),
            anchor=is_anchor,
        ))
    out.sort(key=lambda r: (-(r.win_rate if r.win_rate is not None else -1.0), r.model))
    return BenchScore(anchor, out, len(battles), unparsable, failed, n_bootstrap, seed, level,
                      dict(params or {}))


# ------------------------------------------------------------------- agreement

def arena_intervals(payload: Mapping[str, Any]) -> dict[str, Interval]:
    """``{model: (ci_lower, ci_upper, rating)}`` from a leaderboard snapshot's payload;
    models without an interval are left out (they can not be compared with confidence)."""
    out: dict[str, Interval] = {}
    for row in payload.get("rows", []):
        lo, hi, rating = row.get("ci_lower"), row.get("ci_upper"), row.get("rating")
        if lo is not None and hi is not None and rating is not None:
            out[str(row["model"])] = (float(lo), float(hi), float(rating))
    return out


def bench_agreement(score: BenchScore | Mapping[str, Interval],
                    arena: Mapping[str, Interval]) -> dict[str, Any]:
    """Spearman, Kendall tau, confidence agreement and separability of the bench against
    the arena, over the models both rank (the anchor included, at 50%)."""
    bench = score.intervals() if isinstance(score, BenchScore) else dict(score)
    a = agreement(arena, bench)
    return {"models": sorted(set(arena) & set(bench)), **asdict(a)}
