"""The online Elo board: classic sequential Elo over the counted votes in time order.

Shown beside Bradley-Terry because people know Elo, but labelled order-dependent: the same
votes in another order give other ratings (Bradley-Terry's do not), and it has no
confidence interval. Overall only; never used for the lifecycle or the release.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from app.ranking import Battles, fit_online_elo, win_rate_matrix

ELO_KIND = "elo"
ELO_LABEL = "Online Elo (order-dependent)"
ELO_K = 4.0


def _num(x: float) -> float | None:
    return None if not math.isfinite(float(x)) else round(float(x), 2)


def elo_payload(battles: Battles, slice_: str, label: str, level: float) -> dict[str, Any]:
    """Rows in the shape of the Bradley-Terry boards (no CI), rank = position."""
    result = fit_online_elo(battles, k=ELO_K)
    order = [int(k) for k in np.argsort(-result.ratings, kind="stable")
             if result.n_battles[k] > 0]
    rows = [{"rank": pos + 1, "model": result.models[k], "rating": _num(result.ratings[k]),
             "ci_lower": None, "ci_upper": None, "votes": int(result.n_battles[k])}
            for pos, k in enumerate(order)]
    wr = win_rate_matrix(battles)
    return {
        "kind": ELO_KIND, "slice": slice_, "label": label, "n_battles": len(battles),
        "ci_method": "none (online Elo, order-dependent)", "ci_level": level,
        "elo": {"k": ELO_K, "order": "vote time", "order_dependent": True},
        "rows": rows, "models": [r["model"] for r in rows],
        "winrate": [[_num4(wr[i, j]) for j in order] for i in order],
    }


def _num4(x: float) -> float | None:
    return None if not math.isfinite(float(x)) else round(float(x), 4)
