"""The lifecycle on the boards: which rows the public sees, and each row's badge.

Every model is fitted (a testing model's battles inform everyone's rating); only the rows
change. A testing model's row moves from ``rows`` to ``testing`` (admin only; the public
page and API never read it), the remaining rows are re-ranked among themselves, and each
public row carries ``status`` (provisional | listed | retired) for its badge.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from app.arena.lifecycle import LifecycleRules
from app.leaderboard.records import ModelInfo
from app.ranking import BattleRecord


def model_lifecycle(records: Sequence[BattleRecord], models: Mapping[str, ModelInfo],
                    rules: LifecycleRules | None) -> dict[str, dict[str, Any]]:
    """Per model with counted votes: its votes and state (empty when rules are off)."""
    if rules is None:
        return {}
    votes = Counter(r.model_a for r in records) + Counter(r.model_b for r in records)
    return {
        name: {"votes": n, "state": rules.state(n, retired=name in models
                                                 and models[name].retired)}
        for name, n in sorted(votes.items())
    }


def _rerank(rows: list[dict[str, Any]]) -> None:
    """1 + the shown models clearly above (lower bound above this upper bound); by
    position on a board without intervals (online Elo)."""
    if all(r["ci_upper"] is None for r in rows):
        for pos, row in enumerate(rows):
            row["rank"] = pos + 1
        return
    for row in rows:
        if row["ci_upper"] is None:
            continue
        row["rank"] = 1 + sum(1 for other in rows if other["ci_lower"] is not None
                              and other["ci_lower"] > row["ci_upper"])


def gate_payload(payload: dict[str, Any], lifecycle: Mapping[str, dict[str, Any]],
                 rules: LifecycleRules) -> dict[str, Any]:
    """The board as the public may see it (a new dict; ``payload`` is not changed)."""
    shown, testing = [], []
    for row in payload.get("rows", []):
        state = lifecycle.get(row["model"], {}).get("state", "testing")
        (testing if state == "testing" else shown).append({**row, "status": state})
    _rerank(shown)
    keep = {r["model"] for r in shown}
    models = payload.get("models", [])
    idx = [k for k, m in enumerate(models) if m in keep]
    winrate = payload.get("winrate", [])
    out = {**payload, "rows": shown, "testing": testing, "lifecycle": rules.describe(),
           "models": [models[k] for k in idx]}
    if winrate:
        out["winrate"] = [[winrate[i][j] for j in idx] for i in idx]
    return out


def gate_boards(boards: list[Any], lifecycle: Mapping[str, dict[str, Any]],
                rules: LifecycleRules | None) -> list[Any]:
    """Every board gated (``Leaderboard`` objects); unchanged when rules are off."""
    if rules is None:
        return boards
    return [replace(b, payload=gate_payload(b.payload, lifecycle, rules)) for b in boards]
