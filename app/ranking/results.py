"""Result types shared by Bradley-Terry and style control, and the logit → rating map."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtri

from app.ranking.battles import FloatArray, IntArray


@dataclass(frozen=True)
class RatingScale:
    """Elo-like scale: ``rating = initial + scale / ln(base) * logit``.

    With ``anchor`` set, ratings are shifted so that model has ``anchor_rating`` (in every
    bootstrap round too, so its own interval has zero width).
    """

    scale: float = 400.0
    base: float = 10.0
    initial: float = 1000.0
    anchor: str | None = None
    anchor_rating: float = 1000.0

    @property
    def factor(self) -> float:
        return self.scale / math.log(self.base)

    def contrast(self, models: tuple[str, ...]) -> FloatArray:
        """Matrix ``A`` with ``ratings = offset + factor * A @ logits``."""
        m = len(models)
        a = np.eye(m)
        if self.anchor is not None:
            if self.anchor not in models:
                raise ValueError(f"anchor model {self.anchor!r} is not in models")
            a[:, models.index(self.anchor)] -= 1.0
        return a

    def to_ratings(self, models: tuple[str, ...], logits: FloatArray) -> FloatArray:
        """Map logits of shape ``(..., m)`` to ratings."""
        if self.anchor is None:
            return self.initial + self.factor * logits
        k = models.index(self.anchor)
        return self.anchor_rating + self.factor * (logits - logits[..., k : k + 1])


@dataclass(frozen=True, eq=False)
class RatingIntervals:
    """Confidence intervals on the rating scale.

    ``rank`` is 1 + the number of models whose lower bound is above this model's upper
    bound. ``se`` is set by the sandwich method, ``samples`` (rounds × models ratings) by
    the bootstrap.
    """

    method: str
    level: float
    lower: FloatArray
    upper: FloatArray
    rank: IntArray
    se: FloatArray | None = None
    samples: FloatArray | None = None


@dataclass(frozen=True, eq=False)
class StyleCoefficients:
    """Style effects in logits per standard deviation of each normalised difference."""

    features: tuple[str, ...]
    coef: FloatArray
    mean: FloatArray
    std: FloatArray
    intervals: Mapping[str, tuple[FloatArray, FloatArray]] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class BradleyTerryResult:
    """A fitted Bradley-Terry model (optionally style controlled).

    ``logits`` sum to zero within each connected component of the comparison graph
    (``component``); ratings of models in different components are not comparable.
    """

    models: tuple[str, ...]
    ratings: FloatArray
    logits: FloatArray
    n_battles: IntArray
    component: IntArray
    rating_scale: RatingScale
    log_likelihood: float
    n_iter: int
    l2: float
    intervals: Mapping[str, RatingIntervals] = field(default_factory=dict)
    style: StyleCoefficients | None = None

    def order(self) -> IntArray:
        """Model indices by descending rating."""
        return np.argsort(-self.ratings, kind="stable")


def rank_from_bounds(lower: FloatArray, upper: FloatArray) -> IntArray:
    """1 + number of models whose lower bound is strictly above this model's upper bound."""
    return 1 + (lower[None, :] > upper[:, None]).sum(axis=1)


def intervals_from_samples(samples: FloatArray, level: float) -> RatingIntervals:
    alpha = (1.0 - level) / 2.0
    lower, upper = np.quantile(samples, [alpha, 1.0 - alpha], axis=0)
    return RatingIntervals("bootstrap", level, lower, upper, rank_from_bounds(lower, upper),
                           samples=samples)


def intervals_from_covariance(ratings: FloatArray, cov_ratings: FloatArray,
                              level: float) -> RatingIntervals:
    se = np.sqrt(np.clip(np.diag(cov_ratings), 0.0, None))
    z = float(ndtri(0.5 + level / 2.0))
    lower, upper = ratings - z * se, ratings + z * se
    return RatingIntervals("sandwich", level, lower, upper, rank_from_bounds(lower, upper), se=se)
