"""Pair-frequency reweighting: every pair of models counts about equally in the fit.

An arena samples some pairs far more often than others (new models, popular models,
adaptive sampling). When preferences are not exactly one-dimensional, the plain
maximum-likelihood fit then answers "who wins on the battles we happened to collect",
dominated by the frequent pairs. LMArena (since July 2025) weights each battle by
``1 / max(n_pair, floor)``; the floor keeps rarely compared pairs from being blown up by a
handful of votes. Weights are normalised to mean 1 over the battles, so totals, the
ridge's relative pull and the log-likelihood keep their scale.

The weights are a fixed function of the design (how often each pair was shown), so the
sandwich covariance of the weighted score equations is the right uncertainty, and the
bootstrap multiplies its resampling weights by them (the design is held fixed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from app.ranking.battles import FloatArray

ReweightMethod = Literal["inverse_pair_frequency", "none"]
DEFAULT_FLOOR = 50


@dataclass(frozen=True)
class Reweighting:
    """How battles are weighted in the fit; ``NONE`` is the FastChat-compatible fit."""

    method: ReweightMethod = "inverse_pair_frequency"
    floor: int = DEFAULT_FLOOR

    def __post_init__(self) -> None:
        if self.method not in ("inverse_pair_frequency", "none"):
            raise ValueError("reweighting method must be 'inverse_pair_frequency' or 'none'")
        if self.floor < 1:
            raise ValueError("the reweighting floor must be at least 1")

    @property
    def active(self) -> bool:
        return self.method != "none"

    def describe(self) -> dict[str, Any]:
        """What snapshots and export manifests record."""
        if not self.active:
            return {"method": "none"}
        return {"method": self.method, "floor": self.floor,
                "weight": f"1/max(n_pair, {self.floor}), normalised to mean 1"}


PAIR_FREQUENCY = Reweighting()
NONE = Reweighting("none")


def pair_factors(pair_totals: FloatArray, reweighting: Reweighting | None) -> FloatArray | None:
    """Per-pair battle weight ``c / max(n_pair, floor)`` with mean 1 over battles.

    ``pair_totals`` are the battles per pair that enter the fit. ``None`` when the
    reweighting is off (callers then run the unweighted code path unchanged).
    """
    if reweighting is None or not reweighting.active:
        return None
    n = np.asarray(pair_totals, dtype=np.float64)
    raw = 1.0 / np.maximum(n, float(reweighting.floor))
    total = float(n.sum())
    mass = float((n * raw).sum())
    return raw * (total / mass) if mass > 0 else np.ones_like(n)
