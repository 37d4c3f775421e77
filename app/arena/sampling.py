"""Drawing the two models of an anonymous battle."""

from __future__ import annotations

import random
from collections.abc import Sequence


def sample_pair(candidates: Sequence[tuple[str, float]], rng: random.Random) -> tuple[str, str]:
    """Draw two different models, each by its sampling weight; the order is the random sides.

    The first is drawn by weight, the second by weight among the rest; because either may
    land on side a, the sides carry no information about the draw.
    """
    pool = [(name, w) for name, w in candidates if w > 0]
    if len(pool) < 2:
        raise ValueError("need at least two models with positive weight")
    names = [n for n, _ in pool]
    weights = [w for _, w in pool]
    first = rng.choices(range(len(names)), weights=weights)[0]
    rest = [i for i in range(len(names)) if i != first]
    second = rng.choices(rest, weights=[weights[i] for i in rest])[0]
    pair = [names[first], names[second]]
    rng.shuffle(pair)
    return pair[0], pair[1]


def sample_replacement(
    candidates: Sequence[tuple[str, float]], exclude: set[str], rng: random.Random
) -> str | None:
    """Draw one model by sampling weight among those not excluded (None: none left)."""
    pool = [(name, w) for name, w in candidates if w > 0 and name not in exclude]
    if not pool:
        return None
    return rng.choices([n for n, _ in pool], weights=[w for _, w in pool])[0]
