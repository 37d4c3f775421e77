"""The VL-RewardBench evaluation protocol and its metrics, pure (no database, no model).

As the benchmark's reference code does it:

- every repetition shows the two responses in a random order (here drawn from a seed, the
  item and the repetition, so a run is reproducible and resumable, and recorded);
- the verdict "Overall Judgment: Answer X is better" is mapped back through the shown
  order to a response, and compared with the human ranking: *agree* or *reject*; an
  output that does not parse is *unparsable*, counted apart;
- per item, the majority over the K repetitions: agree or reject when more than half say
  so, unparsable when more than half are, otherwise *split*;
- accuracy per domain is agree / (agree + reject) over the items (split and unparsable
  items are reported, not counted, as the reference's normalised rate); overall accuracy
  pools the items, macro accuracy is the mean over the domains.

Also reported: the parse-failure rate (over every repetition), position consistency (over
pairs of parsed repetitions of an item shown in opposite orders, how often both pick the
same response: 1 for a judge that reads the answers, 0 for one that always picks a
position), a strict accuracy (every item in the denominator) and the single-sample
accuracy (repetition 0 only), for comparison with tools that judge each item once.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from app.judges.results import ParseFailure, RewardChoice
from app.judges.verdicts import rewardbench_preferred
from app.rewardbench.items import DOMAINS, RewardItem

Order = tuple[int, int]  # shown[k] = the response displayed as "Answer k+1"
Label = Literal["agree", "reject", "unparsable"]
Class = Literal["agree", "reject", "unparsable", "split"]


def shown_order(seed: int, item_key: str, repetition: int) -> Order:
    """The random order of one repetition: a fair coin from (seed, item, repetition)."""
    digest = hashlib.sha256(f"{seed}:{item_key}:{repetition}".encode()).digest()
    return (0, 1) if digest[0] & 1 == 0 else (1, 0)


@dataclass(frozen=True)
class Repetition:
    """One judge call on an item: the order shown and what the judge said."""

    shown: Order
    judged: RewardChoice | ParseFailure | None  # None: the call failed (no output)

    @property
    def chosen(self) -> int | None:
        """The response the judge preferred (index in the item), None if unparsable."""
        if self.judged is None:
            return None
        return rewardbench_preferred(self.judged, self.shown)

    def label(self, item: RewardItem) -> Label:
        chosen = self.chosen
        if chosen is None:
            return "unparsable"
        return "agree" if chosen == item.preferred else "reject"


def classify(item: RewardItem, reps: Sequence[Repetition]) -> Class:
    """The reference's majority: a label held by more than half of the repetitions."""
    counts = Counter(r.label(item) for r in reps)
    for label in ("agree", "reject", "unparsable"):
        if counts[label] > len(reps) / 2:
            return label  # type: ignore[return-value]
    return "split"


def consistency_pairs(reps: Sequence[Repetition]) -> tuple[int, int]:
    """(consistent, pairs) over pairs of parsed repetitions shown in opposite orders."""
    parsed = [r for r in reps if r.chosen is not None]
    same = pairs = 0
    for i, a in enumerate(parsed):
        for b in parsed[i + 1:]:
            if a.shown != b.shown:
                pairs += 1
                same += a.chosen == b.chosen
    return same, pairs


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """Wilson score interval of k successes in n (None when n is 0)."""
    if n == 0:
        return None
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Tally:
    """Items of one group by class, and the accuracy over the decided ones."""

    agree: int = 0
    reject: int = 0
    unparsable: int = 0
    split: int = 0

    @property
    def items(self) -> int:
        return self.agree + self.reject + self.unparsable + self.split

    @property
    def decided(self) -> int:
        return self.agree + self.reject

    @property
    def accuracy(self) -> float | None:
        return self.agree / self.decided if self.decided else None

    def as_json(self) -> dict[str, Any]:
        ci = wilson(self.agree, self.decided)
        return {"items": self.items, "agree": self.agree, "reject": self.reject,
                "unparsable": self.unparsable, "split": self.split,
                "accuracy": self.accuracy, "ci95": list(ci) if ci else None}


def _tally(classes: Sequence[Class]) -> Tally:
    c = Counter(classes)
    return Tally(c["agree"], c["reject"], c["unparsable"], c["split"])


@dataclass(frozen=True)
class Metrics:
    domains: Mapping[str, Tally]
    overall: Tally
    repetitions: int
    calls: int
    parse_failures: int
    failed_calls: int
    consistent_pairs: int
    swapped_pairs: int
    single: Tally  # repetition 0 only

    @property
    def macro_accuracy(self) -> float | None:
        """Mean accuracy over the domains that have decided items."""
        values = [t.accuracy for t in self.domains.values() if t.accuracy is not None]
        return sum(values) / len(values) if values else None

    @property
    def parse_failure_rate(self) -> float | None:
        return self.parse_failures / self.calls if self.calls else None

    @property
    def position_consistency(self) -> float | None:
        return self.consistent_pairs / self.swapped_pairs if self.swapped_pairs else None

    @property
    def strict_accuracy(self) -> float | None:
        """Agree over every item (split and unparsable count as wrong)."""
        n = self.overall.items
        return self.overall.agree / n if n else None

    def as_json(self) -> dict[str, Any]:
        return {
            "items": self.overall.items, "repetitions": self.repetitions,
            "calls": self.calls,
            "overall": self.overall.as_json(), "macro_accuracy": self.macro_accuracy,
            "domains": {d: t.as_json() for d, t in self.domains.items()},
            "strict_accuracy": self.strict_accuracy,
            "parse_failures": self.parse_failures, "failed_calls": self.failed_calls,
            "parse_failure_rate": self.parse_failure_rate,
            "position_consistency": self.position_consistency,
            "position_pairs": self.swapped_pairs,
            "single_sample": self.single.as_json(),
        }


def score(results: Sequence[tuple[RewardItem, Sequence[Repetition]]]) -> Metrics:
    """The metrics over items and their repetitions (every item has at least one)."""
    by_domain: dict[str, list[Class]] = {}
    overall: list[Class] = []
    single: list[Class] = []
    calls = failures = failed = same = pairs = 0
    k = 0
    for item, reps in results:
        if not reps:
            raise ValueError(f"item {item.id}: no repetitions")
        k = max(k, len(reps))
        cls = classify(item, reps)
        by_domain.setdefault(item.domain, []).append(cls)
        overall.append(cls)
        single.append(classify(item, reps[:1]))
        calls += len(reps)
        failures += sum(isinstance(r.judged, ParseFailure) for r in reps)
        failed += sum(r.judged is None for r in reps)
        s, p = consistency_pairs(reps)
        same, pairs = same + s, pairs + p
    domains = {d: _tally(by_domain[d]) for d in DOMAINS if d in by_domain}
    return Metrics(domains, _tally(overall), k, calls, failures, failed, same, pairs,
                   _tally(single))
