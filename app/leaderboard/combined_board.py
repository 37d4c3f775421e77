"""The combined human + judge board (kind ``combined``, overall): one Bradley-Terry fit
over the counted human votes and the latest bench judge run's verdicts, each verdict game
weighing ``params.judge_weight`` human votes (``app.ranking.combined``)."""

from __future__ import annotations

from typing import Any

from app.judges.verdicts import judged_battles
from app.leaderboard.judge_games import JudgeGames
from app.ranking import Battles
from app.ranking.combined import fit_combined

COMBINED_KIND = "combined"
COMBINED_LABEL = "Human + judge"


def judge_battles(data: Battles, judge: JudgeGames) -> tuple[Battles, int]:
    """The judge's games between models the human board has (others cannot be compared)."""
    known = set(data.models)
    verdicts = [v for v in judge.verdicts if v[0] in known and v[1] in known]
    return judged_battles(verdicts, models=data.models)


def combined_fit(data: Battles, judge: JudgeGames, params: Any) -> tuple[Any, dict[str, Any]]:
    """The fit and what the payload says about the judge part."""
    games, failures = judge_battles(data, judge)
    result = fit_combined(data, games, judge_weight=params.judge_weight,
                          reweighting=params.reweighting, level=params.level,
                          n_bootstrap=params.n_bootstrap, seed=params.seed)
    return result, {"run_id": judge.run_id, "label": judge.label, "judge": judge.judge,
                    "weight": params.judge_weight, "games": len(games),
                    "unparsable": failures}
