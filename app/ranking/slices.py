"""Leaderboard slices: category, language, multi-turn and no-tie subsets of battles."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from app.ranking.battles import BOTHBAD, TIE, Battles
from app.ranking.results import BradleyTerryResult

CATEGORIES: tuple[str, ...] = (
    "captioning", "ocr", "diagram", "entity_recognition", "homework", "humor", "code",
    "creative_writing", "refusal",
)
# The category of a refinement battle's vote ("which model used your feedback better?"):
# its own board, kept out of every other board unless the operator includes it.
REFINEMENT = "refinement"


@dataclass(frozen=True, eq=False)
class SliceSpec:
    """One slice: a boolean row mask over the battles it was built from."""

    name: str
    kind: str  # "category" | "language" | "multi_turn" | "no_ties"
    mask: npt.NDArray[np.bool_]

    @property
    def n_votes(self) -> int:
        return int(self.mask.sum())


@dataclass(frozen=True, eq=False)
class SliceTags:
    """Per-battle tags aligned with a ``Battles`` object (same row order)."""

    categories: Sequence[Collection[str]]
    languages: Sequence[str]
    turns: Sequence[int]


@dataclass(frozen=True, eq=False)
class SliceResults:
    fitted: dict[str, BradleyTerryResult] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)  # name -> vote count


def build_slices(battles: Battles, tags: SliceTags,
                 categories: Sequence[str] = CATEGORIES) -> tuple[SliceSpec, ...]:
    """Slices in a fixed order: each category, each language (sorted), ``multi_turn``
    (more than one turn) and ``no_ties`` (both tie kinds removed)."""
    n = len(battles)
    if not len(tags.categories) == len(tags.languages) == len(tags.turns) == n:
        raise ValueError("tags must have one entry per battle")
    out = [SliceSpec(f"category:{c}", "category",
                     np.fromiter((c in cats for cats in tags.categories), bool, n))
           for c in categories]
    langs = np.asarray(tags.languages, dtype=object)
    out += [SliceSpec(f"language:{lang}", "language", langs == lang)
            for lang in sorted(set(tags.languages))]
    out.append(SliceSpec("multi_turn", "multi_turn", np.asarray(tags.turns) > 1))
    out.append(SliceSpec("no_ties", "no_ties",
                         (battles.outcome != TIE) & (battles.outcome != BOTHBAD)))
    return tuple(out)


def fit_slices(battles: Battles, slices: Sequence[SliceSpec], fit: Callable[[Battles],
               BradleyTerryResult], *, min_votes: int = 300) -> SliceResults:
    """Fit each slice with ``fit`` (e.g. ``functools.partial(fit_bradley_terry, ...)``);
    slices with fewer than ``min_votes`` battles are reported in ``skipped``, not fitted."""
    result = SliceResults()
    for spec in slices:
        if spec.n_votes < min_votes:
            result.skipped[spec.name] = spec.n_votes
        else:
            result.fitted[spec.name] = fit(battles.subset(spec.mask))
    return result
