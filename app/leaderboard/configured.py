"""The leaderboard parameters a configured arena uses, built in one place for the CLI, the
scheduler and the embedded refresher, so that every board of one arena counts votes alike
(cleaning rules, weighting, tie rule, lifecycle)."""

from __future__ import annotations

from typing import Any

from app.arena.lifecycle import rules_from_settings
from app.leaderboard.cleaning import CleaningParams
from app.leaderboard.compute import LeaderboardParams
from app.leaderboard.weighting import board_reweighting
from app.ranking.battles import STYLE_FEATURES
from app.ranking.ties import TieMethod


def style_features(value: str) -> tuple[str, ...]:
    """``ARENA_LEADERBOARD_STYLE_FEATURES`` as a tuple in the engine's order; empty: all."""
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = sorted(set(names) - set(STYLE_FEATURES))
    if unknown:
        raise ValueError(f"unknown style features {unknown}: use any of "
                         f"{', '.join(STYLE_FEATURES)}")
    return tuple(f for f in STYLE_FEATURES if f in names) or STYLE_FEATURES


def configured_params(settings: Any, *, reweight: bool = True, ties: TieMethod | None = None,
                      cleaning: dict[str, Any] | None = None,
                      **overrides: Any) -> LeaderboardParams:
    """``settings``' parameters; ``ties`` (else the setting), ``cleaning`` and the other
    keyword arguments override them."""
    return LeaderboardParams(
        cleaning=CleaningParams(include_deleted=settings.leaderboard_include_deleted,
                                include_refinement=settings.leaderboard_include_refinement,
                                **(cleaning or {})),
        reweighting=board_reweighting(settings, reweight=reweight),
        lifecycle=rules_from_settings(settings),
        ties=ties or settings.leaderboard_ties,
        style_features=style_features(settings.leaderboard_style_features),
        **overrides,
    )
