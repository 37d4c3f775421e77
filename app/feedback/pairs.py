"""Preference pairs from AI ratings and from human votes, with their controls (pure).

AI pairs follow VLFeedback's rule, which lives once in ``app.judges.verdicts.select_pairs``
(all C(k, 2) pairs, the higher weighted mean of the three aspects is chosen, a pair is kept
only when the difference exceeds the margin, so exact ties are dropped). Human pairs are the
arena's decisive votes: A or B better; ties, both-bad and every vote the ranking would not
count either (excluded, removed, deleted, banned voter, unfinished side) are skipped and
counted by reason.

Every pair carries two controls the DPO results must be read against:

- ``chosen_is_longest``: the chosen answer is strictly longer (characters) than the
  rejected one; VLFeedback's own control trains on "the longest answer is best";
- ``judge_rates_itself``: the judge is one of the pair's two models (self-preference).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from app.judges.results import ASPECTS, Ratings
from app.judges.verdicts import select_pairs
from app.leaderboard.records import VotedBattle

Source = Literal["ai", "human"]


@dataclass(frozen=True)
class FeedbackItem:
    """One prompt of a ratings job: the k answers in the order the judge saw them, and the
    judge's parsed ratings (None with ``failure`` set when the output did not parse or the
    judgment failed)."""

    id: str
    prompt: str
    image_sha256: str
    models: tuple[str, ...]
    answers: tuple[str, ...]
    judge: str
    ratings: Ratings | None = None
    failure: str | None = None
    battle_id: str | None = None

    def __post_init__(self) -> None:
        if len(self.models) != len(self.answers):
            raise ValueError(f"item {self.id}: {len(self.models)} models for "
                             f"{len(self.answers)} answers")
        if self.ratings is not None and len(self.ratings.answers) != len(self.answers):
            raise ValueError(f"item {self.id}: ratings of {len(self.ratings.answers)} answers "
                             f"for {len(self.answers)} answers")


@dataclass(frozen=True)
class PairRecord:
    """One preference pair, whatever its source: what the DPO export writes."""

    id: str
    prompt: str
    image_sha256: str
    chosen: str
    rejected: str
    chosen_model: str
    rejected_model: str
    source: Source
    chosen_score: float | None
    rejected_score: float | None
    judge: str | None
    chosen_is_longest: bool
    judge_rates_itself: bool


def is_longer(chosen: str, rejected: str) -> bool:
    """The control "longest answer is best" would have chosen the same answer."""
    return len(chosen.strip()) > len(rejected.strip())


def ai_pairs(item: FeedbackItem, *, margin: float = 0.0,
             weights: Mapping[str, float] | None = None) -> list[PairRecord]:
    """The item's pairs by the VLFeedback rule; none for an unparsed item."""
    if item.ratings is None:
        return []
    out = []
    for p in select_pairs(item.ratings, margin=margin, weights=weights):
        chosen_model, rejected_model = item.models[p.chosen], item.models[p.rejected]
        out.append(PairRecord(
            id=f"{item.id}:{p.chosen}>{p.rejected}", prompt=item.prompt,
            image_sha256=item.image_sha256, chosen=item.answers[p.chosen],
            rejected=item.answers[p.rejected], chosen_model=chosen_model,
            rejected_model=rejected_model, source="ai", chosen_score=p.chosen_score,
            rejected_score=p.rejected_score, judge=item.judge,
            chosen_is_longest=is_longer(item.answers[p.chosen], item.answers[p.rejected]),
            judge_rates_itself=item.judge in (chosen_model, rejected_model)))
    return out


def skip_reason(battle: VotedBattle) -> str | None:
    """Why a voted battle gives no human pair (None: it gives one)."""
    if battle.winner == "tie":
        return "tie"
    if battle.winner == "tie (bothbad)":
        return "both-bad"
    if battle.winner not in ("model_a", "model_b"):
        return "unknown-winner"
    checks = (
        (battle.model_b is None, "single-model"),
        (battle.vote_excluded, "excluded"),
        (battle.removed, "removed"),
        (battle.deleted, "deleted"),
        (battle.visitor_banned, "banned-visitor"),
        (battle.image_sha256 is None, "no-image"),
        (len(battle.turns) != 1, "multi-turn"),
        (battle.finish_status("a") != "finished" or battle.finish_status("b") != "finished",
         "unfinished"),
    )
    for failed, reason in checks:
        if failed:
            return reason
    return None


def human_pairs(battles: Iterable[VotedBattle]) -> tuple[list[PairRecord], Counter[str]]:
    """Pairs from decisive votes (``source="human"``) and the skipped battles by reason."""
    pairs: list[PairRecord] = []
    skipped: Counter[str] = Counter()
    for b in battles:
        reason = skip_reason(b)
        if reason is not None:
            skipped[reason] += 1
            continue
        turn = b.turns[0]
        a_won = b.winner == "model_a"
        chosen, rejected = (turn.answer_a, turn.answer_b) if a_won else (turn.answer_b,
                                                                         turn.answer_a)
        model_b = b.model_b or ""
        pairs.append(PairRecord(
            id=f"battle:{b.battle_id}", prompt=turn.prompt, image_sha256=b.image_sha256 or "",
            chosen=chosen, rejected=rejected,
            chosen_model=b.model_a if a_won else model_b,
            rejected_model=model_b if a_won else b.model_a, source="human",
            chosen_score=None, rejected_score=None, judge=None,
            chosen_is_longest=is_longer(chosen, rejected), judge_rates_itself=False))
    return pairs, skipped


@dataclass(frozen=True)
class PairSummary:
    """Counts a CLI table and an export manifest show."""

    items: int
    parsed: int
    failures: int
    pairs: int
    chosen_is_longest: int
    judge_rates_itself: int

    def as_json(self) -> dict[str, int]:
        return dict(self.__dict__)


def summarise(items: Sequence[FeedbackItem], pairs: Sequence[PairRecord]) -> PairSummary:
    parsed = sum(i.ratings is not None for i in items)
    return PairSummary(items=len(items), parsed=parsed, failures=len(items) - parsed,
                       pairs=len(pairs), chosen_is_longest=sum(p.chosen_is_longest
                                                               for p in pairs),
                       judge_rates_itself=sum(p.judge_rates_itself for p in pairs))


def parse_weights(text: str | None) -> dict[str, float] | None:
    """``"Helpfulness=1,Visual Faithfulness=2,Ethical Considerations=0"`` (aspect names
    case-insensitive; ``h``, ``v``, ``e`` for short) as the pair rule's weights."""
    if text is None or not text.strip():
        return None
    names = {a.lower(): a for a in ASPECTS} | {a[0].lower(): a for a in ASPECTS}
    out: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        aspect = names.get(name.strip().lower())
        if not sep or aspect is None:
            raise ValueError(f"weights: {part.strip()!r} is not ASPECT=NUMBER "
                             f"(aspects: {', '.join(ASPECTS)})")
        if aspect in out:
            raise ValueError(f"weights: {aspect} given twice")
        try:
            out[aspect] = float(value)
        except ValueError:
            raise ValueError(f"weights: {value.strip()!r} is not a number") from None
    missing = [a for a in ASPECTS if a not in out]
    if missing:
        raise ValueError(f"weights: missing {missing}")
    return out
