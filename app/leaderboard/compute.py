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

from app.arena.lifecycle import LifecycleRules
from app.arena.reasons import summarise_reasons
from app.leaderboard.cleaning import CleaningParams, clean
from app.leaderboard.combined_board import COMBINED_KIND, COMBINED_LABEL, combined_fit
from app.leaderboard.elo_board import ELO_KIND, ELO_LABEL, elo_payload
from app.leaderboard.judge_games import JudgeGames
from app.leaderboard.lifecycle import gate_boards, model_lifecycle
from app.leaderboard.records import ModelInfo, VotedBattle
from app.ranking import (
    PAIR_FREQUENCY,
    BattleRecord,
    Battles,
    BradleyTerryResult,
    Reweighting,
    battles_from_records,
    build_slices,
    fit_bradley_terry,
    fit_slices,
    fit_style_control,
    slice_tags_from_records,
    win_rate_matrix,
)
from app.ranking.battles import STYLE_FEATURES, STYLE_VERSION
from app.ranking.results import rank_from_bounds
from app.ranking.slices import REFINEMENT
from app.ranking.ties import TIE_LABELS, TieMethod, tie_games

KINDS = ("default", "style")
KIND_LABELS = {"default": "Default", "style": "Style control", ELO_KIND: ELO_LABEL,
               COMBINED_KIND: COMBINED_LABEL}
OVERALL = "overall"
REFINEMENT_SLICE = f"category:{REFINEMENT}"
REFINEMENT_LABEL = "Refinement (who used the feedback better)"


@dataclass(frozen=True)
class LeaderboardParams:
    seed: int = 0
    n_bootstrap: int = 200
    level: float = 0.95
    min_slice_votes: int = 300  # a slice (category, language, ...) needs this many battles
    cleaning: CleaningParams = field(default_factory=CleaningParams)
    # Battles weighted by 1/max(n_pair, 50) (LMArena since 2025-07); NONE: FastChat's fit.
    reweighting: Reweighting = PAIR_FREQUENCY
    # Listing threshold, provisional marks, retired models (None: every model shown).
    lifecycle: LifecycleRules | None = None
    # The combined human + judge board: one judge verdict game weighs this many votes.
    judge_weight: float = 0.5
    # How ties count (app/ranking/ties.py); the tie report's held-out scores guide it.
    ties: TieMethod = "half"
    # What the style board controls for (STYLE_VERSION's features by default).
    style_features: tuple[str, ...] = STYLE_FEATURES


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
    # Refinement battles left out of `kept` (not included in every board): released, and
    # ranked on the refinement board only.
    refinement: list[VotedBattle] = field(default_factory=list)

    def board(self, kind: str, slice_: str = OVERALL) -> Leaderboard | None:
        return next((b for b in self.boards if b.kind == kind and b.slice == slice_), None)


def slice_label(slice_: str) -> str:
    if slice_ == OVERALL:
        return "Overall"
    if slice_ == REFINEMENT_SLICE:
        return REFINEMENT_LABEL
    what, _, value = slice_.partition(":")
    if not value:
        return what.replace("_", " ").capitalize()
    return f"{what.capitalize()}: {value}"


def _num(x: float, digits: int = 2) -> float | None:
    return None if not math.isfinite(float(x)) else round(float(x), digits)


def fit_board(battles: Battles, kind: str, params: LeaderboardParams) -> BradleyTerryResult:
    """Default: Bradley-Terry with bootstrap CIs; style: style control with sandwich CIs
    (a row-level bootstrap of style control costs far more and changes little). Both use
    ``params.reweighting`` and count ties by ``params.ties``; under ``grounded`` the result
    has the usable-answer line as its last model."""
    battles = tie_games(battles, params.ties)
    if kind == "style":  # the configured features that the battles carry
        have = battles.style_features or ()
        return fit_style_control(battles, features=[f for f in params.style_features
                                                    if f in have],
                                 intervals=("sandwich",), level=params.level,
                                 seed=params.seed, reweighting=params.reweighting)
    return fit_bradley_terry(battles, intervals=("bootstrap",), level=params.level,
                             n_bootstrap=params.n_bootstrap, seed=params.seed,
                             reweighting=params.reweighting)


def board_payload(battles: Battles, result: BradleyTerryResult, kind: str, slice_: str,
                  params: LeaderboardParams) -> dict[str, Any]:
    method = next(iter(result.intervals))
    iv = result.intervals[method]
    m = len(battles.models)  # a grounded fit's line comes after the models
    rank = rank_from_bounds(iv.lower[:m], iv.upper[:m])
    order = [int(k) for k in result.order() if k < m and result.n_battles[k] > 0]
    rows = [
        {
            "rank": int(rank[k]),
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
        "reweighting": params.reweighting.describe(),
        "ties": {"method": params.ties, "label": TIE_LABELS[params.ties]},
        "rows": rows,
        "models": [result.models[k] for k in order],
        "winrate": [[_num(wr[i, j], 4) for j in order] for i in order],
    }
    if len(result.models) > m:
        payload["ties"]["line"] = {"rating": _num(result.ratings[m]),
                                   "ci_lower": _num(iv.lower[m]), "ci_upper": _num(iv.upper[m])}
    if result.style is not None:
        payload["style_version"] = STYLE_VERSION
        payload["style_coefficients"] = {
            f: _num(c, 4) for f, c in zip(result.style.features, result.style.coef, strict=True)
        }
        lo, hi = result.style.intervals.get(method, (None, None))
        if lo is not None and hi is not None:  # the same interval method as the ratings'
            payload["style_intervals"] = {
                f: [_num(a, 4), _num(b, 4)]
                for f, a, b in zip(result.style.features, lo, hi, strict=True)}
    return payload


def reason_summary(battles: Sequence[VotedBattle]) -> dict[str, dict[str, Any]]:
    """Per model, over the battles that count: how many had reasons and each tag's count."""
    rows = []
    for b in battles:
        if b.has_reasons and b.model_b is not None:
            rows += [(b.model_a, b.reason_tags_a), (b.model_b, b.reason_tags_b)]
    return summarise_reasons(rows)


def refinement_boards(records: Sequence[BattleRecord], params: LeaderboardParams,
                      ) -> tuple[list[Leaderboard], dict[str, int]]:
    """The refinement board of each kind: the votes of refinement battles ("which model
    used your feedback better?"), whether or not the other boards include them. Skipped,
    like any slice, below ``min_slice_votes``."""
    if not records:
        return [], {}
    if len(records) < params.min_slice_votes:
        return [], {REFINEMENT_SLICE: len(records)}
    data = battles_from_records(records)
    return [Leaderboard(kind, REFINEMENT_SLICE, len(data), board_payload(
        data, fit_board(data, kind, params), kind, REFINEMENT_SLICE, params))
        for kind in KINDS], {}


def compute_leaderboards(
    battles: Sequence[VotedBattle],
    models: Mapping[str, ModelInfo],
    *,
    cutoff: datetime,
    code_version: str,
    params: LeaderboardParams = LeaderboardParams(),
    progress: Any = None,
    judge: JudgeGames | None = None,
) -> LeaderboardRun:
    """Clean, then fit every (kind, slice). ``progress(done, total, label)`` if given;
    with ``judge`` verdicts also the combined human + judge board."""
    cleaned = clean(battles, models, params.cleaning)
    boards: list[Leaderboard] = []
    skipped: dict[str, int] = {}
    if cleaned.records:
        data = battles_from_records(cleaned.records)
        tags = slice_tags_from_records(cleaned.records)
        # The refinement category has a board of its own, below.
        seen_categories = sorted({c for r in cleaned.records for c in r.categories}
                                 - {REFINEMENT})
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
        # Online Elo beside Bradley-Terry, overall only (order-dependent, no CI).
        boards.append(Leaderboard(ELO_KIND, OVERALL, len(data), elo_payload(
            data, OVERALL, slice_label(OVERALL), params.level)))
        if judge is not None and judge.verdicts:
            result, about = combined_fit(tie_games(data, params.ties), judge, params)
            payload = board_payload(data, result, COMBINED_KIND, OVERALL, params)
            boards.append(Leaderboard(COMBINED_KIND, OVERALL, len(data),
                                      {**payload, "judge": about}))
        if progress is not None:
            progress(steps, steps, "done")
    refinement, refinement_skipped = refinement_boards(
        [r for r in (*cleaned.records, *cleaned.refinement_records)
         if REFINEMENT in r.categories], params)
    boards += refinement
    skipped |= refinement_skipped
    # Testing models leave the public rows of every board (kept apart for admin).
    boards = gate_boards(boards, model_lifecycle(cleaned.records, models, params.lifecycle),
                         params.lifecycle)
    return LeaderboardRun(cutoff=cutoff, code_version=code_version, params=params,
                          n_total=len(battles), cleaning=cleaned.report,
                          kept=cleaned.battles, boards=boards, skipped_slices=skipped,
                          presets=cleaned.presets, refinement=cleaned.refinement)
