"""What a parsed judgment means: the one place that turns verdicts into games, rewards and
preference pairs, so that the bench, the exports and the evaluations cannot disagree.

- Pairwise verdicts count as games, Arena-Hard's weighting: a strong verdict (``A>>B``) is
  three wins, a weak one (``A>B``) one win, ``A=B`` one tie; an unparsable judgment is no
  game and is reported as a failure.
- A bench pair is judged twice, with the positions swapped, and both orders' games count.
  A judge that always prefers position A therefore gives the candidate as many wins as
  losses: for Bradley-Terry that is the same as ties, and the combined outcome is a tie.
- Rewards are +100 / +50 / 0 / -50 / -100 from the candidate's side.
- VLFeedback pairs: over all C(k, 2) answer pairs, the higher (weighted) mean of the three
  aspect ratings is chosen; a pair is kept only when the difference exceeds the margin
  (default 0, so exact ties are dropped).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import combinations
from typing import Literal

from app.judges.results import ASPECTS, ParseFailure, Ratings, RewardChoice, Verdict
from app.ranking import Battles, Outcome

Side = Literal["A", "B"]
Judged = Verdict | ParseFailure


@dataclass(frozen=True)
class Games:
    """Weighted games of one judgment, from the positions' point of view."""

    a_wins: int = 0
    b_wins: int = 0
    ties: int = 0

    @property
    def total(self) -> int:
        return self.a_wins + self.b_wins + self.ties


GAMES: Mapping[Verdict, Games] = {
    Verdict.A_MUCH_BETTER: Games(a_wins=3),
    Verdict.A_BETTER: Games(a_wins=1),
    Verdict.TIE: Games(ties=1),
    Verdict.B_BETTER: Games(b_wins=1),
    Verdict.B_MUCH_BETTER: Games(b_wins=3),
}
_SCORE: Mapping[Verdict, int] = {
    Verdict.A_MUCH_BETTER: 2, Verdict.A_BETTER: 1, Verdict.TIE: 0,
    Verdict.B_BETTER: -1, Verdict.B_MUCH_BETTER: -2,
}
REWARDS: Mapping[int, int] = {2: 100, 1: 50, 0: 0, -1: -50, -2: -100}


def games(judged: Judged) -> Games:
    """The games a judgment counts for; none for a parse failure."""
    return Games() if isinstance(judged, ParseFailure) else GAMES[judged]


def verdict_score(verdict: Verdict, side: Side = "A") -> int:
    """-2..2: how much better the answer in position ``side`` was judged."""
    if side not in ("A", "B"):
        raise ValueError("side must be 'A' or 'B'")
    return _SCORE[verdict] if side == "A" else -_SCORE[verdict]


def preferred_side(verdict: Verdict | str) -> Literal["A", "B", "tie"]:
    """Which position a verdict prefers, strength aside ("A>>B" and "A>B" both say A)."""
    score = _SCORE[Verdict(verdict)]
    return "A" if score > 0 else "B" if score < 0 else "tie"


def reward(judged: Judged, side: Side) -> int | None:
    """+100/+50/0/-50/-100 for the answer in position ``side``; None when unparsable."""
    return None if isinstance(judged, ParseFailure) else REWARDS[verdict_score(judged, side)]


def battle_rows(model_a: str, model_b: str, judged: Judged) -> list[tuple[str, str, Outcome]]:
    """One (model_a, model_b, winner) row per game, for ``Battles.from_names``."""
    g = games(judged)
    return ([(model_a, model_b, "model_a")] * g.a_wins + [(model_a, model_b, "model_b")]
            * g.b_wins + [(model_a, model_b, "tie")] * g.ties)


def judged_battles(judgments: Iterable[tuple[str, str, Judged]],
                   models: Sequence[str] | None = None) -> tuple[Battles, int]:
    """Battles (weighted by repetition) from ``(model_a, model_b, verdict)`` judgments, and
    the number of unparsable judgments, which count no game and must be reported."""
    rows: list[tuple[str, str, Outcome]] = []
    failures = 0
    for model_a, model_b, judged in judgments:
        failures += isinstance(judged, ParseFailure)
        rows.extend(battle_rows(model_a, model_b, judged))
    a, b, w = (list(c) for c in zip(*rows, strict=True)) if rows else ([], [], [])
    return Battles.from_names(a, b, w, models=models), failures


@dataclass(frozen=True)
class SwappedJudgment:
    """A (candidate, anchor) pair judged in both orders, combined.

    ``outcome`` is the sign of candidate wins minus anchor wins over both orders, or None
    when either order is unparsable (a single order cannot separate quality from position
    bias; its games still count, as in Arena-Hard). ``consistent`` says whether the two
    orders agree on the side (None unless both parsed).
    """

    candidate_wins: int
    anchor_wins: int
    ties: int
    failures: int
    outcome: Literal["candidate", "anchor", "tie"] | None
    consistent: bool | None
    rewards: tuple[int, ...]

    @property
    def reward(self) -> float | None:
        """Mean reward of the parsable orders."""
        return sum(self.rewards) / len(self.rewards) if self.rewards else None


_OUTCOME: Mapping[int, Literal["candidate", "anchor", "tie"]] = {
    1: "candidate", -1: "anchor", 0: "tie"}


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


def combine_swapped(candidate_as_a: Judged, candidate_as_b: Judged) -> SwappedJudgment:
    """Combine the judgment with the candidate in position A and the one with it in B."""
    first, second = games(candidate_as_a), games(candidate_as_b)
    wins = first.a_wins + second.b_wins
    losses = first.b_wins + second.a_wins
    scores: list[int] = []  # candidate's side, per parsable order
    if isinstance(candidate_as_a, Verdict):
        scores.append(verdict_score(candidate_as_a, "A"))
    if isinstance(candidate_as_b, Verdict):
        scores.append(verdict_score(candidate_as_b, "B"))
    failures = 2 - len(scores)
    outcome: Literal["candidate", "anchor", "tie"] | None = None
    consistent = None
    if failures == 0:
        outcome = _OUTCOME[_sign(wins - losses)]
        consistent = _sign(scores[0]) == _sign(scores[1])
    return SwappedJudgment(wins, losses, first.ties + second.ties, failures, outcome,
                           consistent, tuple(REWARDS[s] for s in scores))


def swapped_battle_rows(candidate: str, anchor: str, candidate_as_a: Judged,
                        candidate_as_b: Judged) -> list[tuple[str, str, Outcome]]:
    """The games of both orders as battle rows (candidate shown as A, then anchor as A)."""
    return battle_rows(candidate, anchor, candidate_as_a) + battle_rows(anchor, candidate,
                                                                        candidate_as_b)


# ------------------------------------------------------------------- VL-RewardBench

def rewardbench_preferred(judged: RewardChoice | ParseFailure, shown: Sequence[int]) -> int | None:
    """The original index of the preferred answer, given ``shown[k]`` = the original index
    of the answer displayed as "Answer k+1" (the evaluator shuffles the order)."""
    if len(shown) != 2 or sorted(shown) != [0, 1]:
        raise ValueError("shown must be a permutation of (0, 1)")
    return None if isinstance(judged, ParseFailure) else shown[judged.better - 1]


# ------------------------------------------------------------------- VLFeedback pairs

@dataclass(frozen=True)
class PreferencePair:
    """Answer indices (0-based) and their (weighted) mean ratings."""

    chosen: int
    rejected: int
    chosen_score: float
    rejected_score: float

    @property
    def margin(self) -> float:
        return self.chosen_score - self.rejected_score


RatingRows = Ratings | Sequence[Mapping[str, int]]


def _rows(ratings: RatingRows) -> list[Mapping[str, int]]:
    if isinstance(ratings, Ratings):
        return [{a: r.rating for a, r in answer.items()} for answer in ratings.answers]
    rows = list(ratings)
    for n, row in enumerate(rows):
        missing = [a for a in ASPECTS if a not in row]
        if missing:
            raise ValueError(f"answer {n}: missing aspects {missing}")
        bad = [a for a in ASPECTS if not (isinstance(row[a], int) and 1 <= row[a] <= 5)]
        if bad:
            raise ValueError(f"answer {n}: ratings must be integers 1-5 ({bad})")
    return rows


def answer_scores(ratings: RatingRows,
                  weights: Mapping[str, float] | None = None) -> tuple[Fraction, ...]:
    """Weighted mean rating per answer, computed exactly (so ties are exact ties)."""
    if weights is None:
        w = {a: Fraction(1) for a in ASPECTS}
    else:
        if set(weights) != set(ASPECTS):
            raise ValueError(f"weights must give exactly the aspects {list(ASPECTS)}")
        # the decimal a weight prints as (0.1 is 1/10), so equal-looking sums tie exactly
        w = {a: Fraction(repr(float(weights[a]))) for a in ASPECTS}
        if any(v < 0 for v in w.values()) or sum(w.values()) == 0:
            raise ValueError("weights must be non-negative and not all zero")
    total = sum(w.values())
    return tuple(sum(w[a] * row[a] for a in ASPECTS) / total for row in _rows(ratings))


def select_pairs(ratings: RatingRows, *, margin: float = 0.0,
                 weights: Mapping[str, float] | None = None) -> list[PreferencePair]:
    """VLFeedback's pair rule over all C(k, 2) pairs: keep a pair when the score difference
    is strictly greater than ``margin``; the higher score is chosen. Scores are exact; the
    difference is compared as a float, so a margin of ``1/3`` drops a difference of 1/3."""
    if margin < 0:
        raise ValueError("margin must be >= 0")
    scores = answer_scores(ratings, weights)
    pairs = []
    for i, j in combinations(range(len(scores)), 2):
        if scores[i] != scores[j] and float(abs(scores[i] - scores[j])) > margin:
            hi, lo = (i, j) if scores[i] > scores[j] else (j, i)
            pairs.append(PreferencePair(hi, lo, float(scores[hi]), float(scores[lo])))
    return pairs
