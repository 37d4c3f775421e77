"""From cleaned battles to every leaderboard: overall and per slice, default and
style-controlled. Pure (no DB, no files); the results are plain JSON-ready values, rounded
so that the same input gives byte-identical output."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from app.arena.reasons import summarise_reasons
from app.leaderboard.cleaning import CleaningParams, clean
from app.leaderboard.records import ModelInfo, VotedBattle
from app.ranking import (
    Battles,
    BradleyTerryResult,
    battles_from_records,
    build_slices,
    fit_bradley_terry,
    fit_slices,
    fit_style_control,
    slice_tags_from_records,
    win_rate_matrix,
)

KINDS = ("default", "style")
KIND_LABELS = {"default": "Default", "style": "Style control"}
OVERALL = "overall"


@dataclass(frozen=True)
class LeaderboardParams:
    seed: int = 0
    n_bootstrap: int = 200
    level: float = 0.95
    min_slice_votes: int = 300  # a slice (category, language, ...) needs this many battles
    cleaning: CleaningParams = field(default_factory=CleaningParams)


@dataclass(frozen=True)
class Leaderboard:
    kind: str
    slice: str
    n_battles: int
    payload: dict[str, Any]  # rows, models, winrate, ci method, style coefficients


@dataclass(frozen=True)
class LeaderboardRun:
    cutoff: datetime
    code_version: str
    params: LeaderboardParams
    n_total: int
    cleaning: dict[str, Any]
    kept: list[VotedBattle]
    boards: list[Leaderboard]
    skipped_slices: dict[str, int] = field(default_factory=dict)  # too few votes
    # Preset battles that passed every hygiene rule: released (marked), not ranked.
    presets: list[VotedBattle] = field(default_factory=list)

    def board(self, kind: str, slice_: str = OVERALL) -> Leaderboard | None:
        return next((b for b in self.boards if b.kind == kind and b.slice == slice_), None)


def slice_label(slice_: str) -> str:
    if slice_ == OVERALL:
        return "Overall"
    what, _, value = slice_.partition(":")
    if not value:
        return what.replace("_", " ").capitalize()
    return f"{what.capitalize()}: {value}"


def _num(x: float, digits: int = 2) -> float | None:
    return None if not math.isfinite(float(x)) else round(float(x), digits)


def fit_board(battles: Battles, kind: str, params: LeaderboardParams) -> BradleyTerryResult:
    """Default: Bradley-Terry with bootstrap CIs; style: style control with sandwich CIs
    (a row-level bootstrap of style control costs far more and changes little)."""
    if kind == "style":
        return fit_style_control(battles, intervals=("sandwich",), level=params.level,
                                 seed=params.seed)
    return fit_bradley_terry(battles, intervals=("bootstrap",), level=params.level,
                             n_bootstrap=params.n_bootstrap, seed=params.seed)


def board_payload(battles: Battles, result: BradleyTerryResult, kind: str, slice_: str,
                  params: LeaderboardParams) -> dict[str, Any]:
    method = next(iter(result.intervals))
    iv = result.intervals[method]
    order = [int(k) for k in result.order() if result.n_battles[k] > 0]
    rows = [
        {
            "rank": int(iv.rank[k]),
            "model": result.models[k],
            "rating": _num(result.ratings[k]),
            "ci_lower": _num(iv.lower[k]),
            "ci_upper": _num(iv.upper[k]),
            "votes": int(result.n_battles[k]),
        }
        for k in order
    ]
    wr = win_rate_matrix(battles)
    payload: dict[str, Any] = {
        "kind": kind,
        "slice": slice_,
        "label": slice_label(slice_),
        "n_battles": len(battles),
        "ci_method": method,
        "ci_level": params.level,
        "rows": rows,
        "models": [result.models[k] for k in order],
        "winrate": [[_num(wr[i, j], 4) for j in order] for i in order],
    }
    if result.style is not None:
        payload["style_coefficients"] = {
            f: _num(c, 4) for f, c in zip(result.style.features, result.style.coef, strict=True)
        }
    return payload


def reason_summary(battles: Sequence[VotedBattle]) -> dict[str, dict[str, Any]]:
    """Per model, over the battles that count: how many had reasons and each tag's count."""
    rows = []
    for b in battles:
        if b.has_reasons and b.model_b is not None:
            rows += [(b.model_a, b.reason_tags_a), (b.model_b, b.reason_tags_b)]
    return summarise_reasons(rows)


def compute_leaderboards(
    battles: Sequence[VotedBattle],
    models: Mapping[str, ModelInfo],
    *,
    cutoff: datetime,
    code_version: str,
    params: LeaderboardParams = LeaderboardParams(),
    progress: Any = None,
) -> LeaderboardRun:
    """Clean, then fit every (kind, slice). ``progress(done, total, label)`` if given."""
    cleaned = clean(battles, models, params.cleaning)
    boards: list[Leaderboard] = []
    skipped: dict[str, int] = {}
    if cleaned.records:
        data = battles_from_records(cleaned.records)
        tags = slice_tags_from_records(cleaned.records)
        seen_categories = sorted({c for r in cleaned.records for c in r.categories})
        specs = build_slices(data, tags, categories=seen_categories)
        steps = len(KINDS) * (1 + len(specs))
        done = 0
        for kind in KINDS:
            fit = partial(fit_board, kind=kind, params=params)
            if progress is not None:
                progress(done, steps, f"{KIND_LABELS[kind]} · Overall")
            overall = board_payload(data, fit(data), kind, OVERALL, params)
            overall["reasons"] = reason_summary(cleaned.battles)
            boards.append(Leaderboard(kind, OVERALL, len(data), overall))
            done += 1
            if progress is not None:
                progress(done, steps, f"{KIND_LABELS[kind]} · slices")
            fitted = fit_slices(data, specs, fit, min_votes=params.min_slice_votes)
            skipped = dict(fitted.skipped)
            for spec in specs:
                if spec.name in fitted.fitted:
                    sub = data.subset(spec.mask)
                    boards.append(Leaderboard(kind, spec.name, len(sub), board_payload(
                        sub, fitted.fitted[spec.name], kind, spec.name, params)))
            done += len(specs)
        if progress is not None:
            progress(steps, steps, "done")
    return LeaderboardRun(cutoff=cutoff, code_version=code_version, params=params,
                          n_total=len(battles), cleaning=cleaned.report,
                          kept=cleaned.battles, boards=boards, skipped_slices=skipped,
                          presets=cleaned.presets)
