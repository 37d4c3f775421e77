"""Pure ranking engine: online Elo, Bradley-Terry with confidence intervals, style control,
slices, pairwise matrices and battle cleaning. numpy/scipy only; no database, web or files.
"""

from app.ranking.battles import (
    A_WINS,
    B_WINS,
    BOTHBAD,
    OUTCOMES,
    STYLE_FEATURES,
    STYLE_FEATURES_V1,
    STYLE_VERSION,
    TIE,
    Battles,
    Outcome,
)
from app.ranking.bradley_terry import bootstrap_logits, fit_bradley_terry, sandwich_covariance
from app.ranking.cleaning import (
    RULES,
    CleaningConfig,
    CleaningResult,
    RuleReport,
    clean_battles,
    discloses_identity,
)
from app.ranking.elo import EloResult, fit_online_elo
from app.ranking.matrices import battle_count_matrix, predicted_win_matrix, win_rate_matrix
from app.ranking.pairs import PairCounts, aggregate_pairs
from app.ranking.records import BattleRecord, battles_from_records, slice_tags_from_records
from app.ranking.results import (
    BradleyTerryResult,
    RatingIntervals,
    RatingScale,
    StyleCoefficients,
    rank_from_bounds,
)
from app.ranking.reweighting import NONE, PAIR_FREQUENCY, Reweighting, pair_factors
from app.ranking.simulate import simulate_battles
from app.ranking.slices import (
    CATEGORIES,
    SliceResults,
    SliceSpec,
    SliceTags,
    build_slices,
    fit_slices,
)
from app.ranking.style import StyleCounts, count_style, style_differences
from app.ranking.style_control import fit_style_control

__all__ = [
    "A_WINS", "B_WINS", "BOTHBAD", "CATEGORIES", "OUTCOMES", "RULES", "STYLE_FEATURES",
    "STYLE_FEATURES_V1", "STYLE_VERSION", "TIE",
    "BattleRecord", "Battles", "BradleyTerryResult", "CleaningConfig", "CleaningResult",
    "NONE", "PAIR_FREQUENCY", "Reweighting", "pair_factors",
    "EloResult", "Outcome", "PairCounts", "RatingIntervals", "RatingScale", "RuleReport",
    "SliceResults", "SliceSpec", "SliceTags", "StyleCoefficients", "StyleCounts",
    "aggregate_pairs", "battle_count_matrix", "battles_from_records", "bootstrap_logits",
    "build_slices", "clean_battles", "count_style", "discloses_identity", "fit_bradley_terry",
    "fit_online_elo", "fit_slices", "fit_style_control", "predicted_win_matrix",
    "rank_from_bounds", "sandwich_covariance", "simulate_battles", "slice_tags_from_records",
    "style_differences", "win_rate_matrix",
]
