"""Cleaning rules: which voted battles count for the leaderboard.

Rules run in this order; each sees only what the previous ones kept, and the report says
how many battles each one dropped:

1. ``anonymous_vote`` - keep anonymous battles that have a vote (named battles are biased).
2. ``unfinished`` - drop battles where either side failed or did not finish.
3. ``identity_disclosed`` - drop battles where any answer or user turn mentions a name of
   either model (``identity_names``, case-insensitive substring): the vote was not blind.
4. ``removed`` - drop battles an admin removed.
5. ``banned_visitor`` - drop votes of banned visitors.
6. ``excluded_model`` - drop battles involving a model excluded from ranking.
7. ``daily_vote_cap`` - keep at most ``daily_vote_cap`` votes per visitor per UTC day
   (earliest first) to limit the weight of one person.
8. ``duplicate_prompt`` - keep at most ``max_per_prompt`` battles per prompt hash, a seeded
   random choice, so a prompt spammed many times does not dominate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from app.ranking.records import BattleRecord

_DAY = 86_400.0


@dataclass(frozen=True)
class CleaningConfig:
    identity_names: Mapping[str, Sequence[str]] = field(default_factory=dict)
    daily_vote_cap: int | None = None
    max_per_prompt: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class RuleReport:
    rule: str
    dropped: int
    remaining: int


@dataclass(frozen=True)
class CleaningResult:
    kept: tuple[BattleRecord, ...]
    report: tuple[RuleReport, ...]


Rule = Callable[[Sequence[BattleRecord], CleaningConfig], list[BattleRecord]]


def keep_anonymous_votes(records: Sequence[BattleRecord], _: CleaningConfig) -> list[BattleRecord]:
    return [r for r in records if r.anonymous and r.winner is not None]


def drop_unfinished(records: Sequence[BattleRecord], _: CleaningConfig) -> list[BattleRecord]:
    return [r for r in records if r.status_a == "finished" and r.status_b == "finished"]


def discloses_identity(record: BattleRecord, names: Mapping[str, Sequence[str]]) -> bool:
    """True if any answer or user turn mentions a name of either model."""
    words = [w.lower() for model in (record.model_a, record.model_b)
             for w in names.get(model, ()) if w]
    if not words:
        return False
    texts = (*record.answers_a, *record.answers_b, *record.user_turns)
    return any(w in text.lower() for text in texts for w in words)


def drop_identity_disclosed(records: Sequence[BattleRecord],
                            config: CleaningConfig) -> list[BattleRecord]:
    return [r for r in records if not discloses_identity(r, config.identity_names)]


def drop_removed(records: Sequence[BattleRecord], _: CleaningConfig) -> list[BattleRecord]:
    return [r for r in records if not r.removed]


def drop_banned_visitors(records: Sequence[BattleRecord], _: CleaningConfig) -> list[BattleRecord]:
    return [r for r in records if not r.visitor_banned]


def drop_excluded_models(records: Sequence[BattleRecord], _: CleaningConfig) -> list[BattleRecord]:
    return [r for r in records if not (r.model_a_excluded or r.model_b_excluded)]


def cap_daily_votes(records: Sequence[BattleRecord],
                    config: CleaningConfig) -> list[BattleRecord]:
    """Keep each visitor's earliest ``daily_vote_cap`` votes per UTC day."""
    cap = config.daily_vote_cap
    if cap is None:
        return list(records)
    seen: dict[tuple[str, int], int] = defaultdict(int)
    keep: set[int] = set()
    for k in sorted(range(len(records)), key=lambda k: (records[k].tstamp,
                                                        records[k].battle_id)):
        key = (records[k].visitor_id, int(records[k].tstamp // _DAY))
        if seen[key] < cap:
            seen[key] += 1
            keep.add(k)
    return [r for k, r in enumerate(records) if k in keep]


def downsample_duplicate_prompts(records: Sequence[BattleRecord],
                                 config: CleaningConfig) -> list[BattleRecord]:
    """At most ``max_per_prompt`` battles per non-empty prompt hash, chosen at random
    (seeded; independent of input order)."""
    limit = config.max_per_prompt
    if limit is None:
        return list(records)
    groups: dict[str, list[int]] = defaultdict(list)
    for k, r in enumerate(records):
        if r.prompt_hash:
            groups[r.prompt_hash].append(k)
    rng = np.random.default_rng(config.seed)
    drop: set[int] = set()
    for prompt in sorted(groups):
        members = sorted(groups[prompt], key=lambda k: records[k].battle_id)
        if len(members) > limit:
            chosen = rng.choice(len(members), size=limit, replace=False)
            drop.update(set(members) - {members[c] for c in chosen})
    return [r for k, r in enumerate(records) if k not in drop]


RULES: tuple[tuple[str, Rule], ...] = (
    ("anonymous_vote", keep_anonymous_votes),
    ("unfinished", drop_unfinished),
    ("identity_disclosed", drop_identity_disclosed),
    ("removed", drop_removed),
    ("banned_visitor", drop_banned_visitors),
    ("excluded_model", drop_excluded_models),
    ("daily_vote_cap", cap_daily_votes),
    ("duplicate_prompt", downsample_duplicate_prompts),
)


def clean_battles(records: Sequence[BattleRecord],
                  config: CleaningConfig | None = None) -> CleaningResult:
    """Apply ``RULES`` in order; returns the kept records and a per-rule report."""
    config = config or CleaningConfig()
    current = list(records)
    report = []
    for name, rule in RULES:
        after = rule(current, config)
        report.append(RuleReport(name, len(current) - len(after), len(after)))
        current = after
    return CleaningResult(tuple(current), tuple(report))
