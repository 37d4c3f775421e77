"""Fast exact Poisson draws for bootstrap weights on aggregated counts.

A Poisson bootstrap of ``c`` identical battles needs one Poisson(c) draw per cell and round
(millions per run); numpy's generator costs ~100 ns per such draw here. This sampler
inverts the CDF with a guide table: a 12-bit uniform picks one of 4096 equal-probability
buckets; where the inverse CDF is constant on the bucket (almost always) the table holds
the answer, otherwise a fresh uniform inside the bucket is inverted exactly against the
CDF. The draws are therefore exactly Poisson (to float64 resolution), at a few ns each.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import pdtr

from app.ranking.battles import FloatArray

_BITS = 12
_BUCKETS = 1 << _BITS


class PoissonSampler:
    """Draws ``Poisson(lam[c])`` for every cell ``c``, many rounds at once."""

    def __init__(self, lam: npt.ArrayLike) -> None:
        lam = np.asarray(lam, dtype=np.float64)
        if np.any(lam < 0) or np.any(lam != np.rint(lam)):
            raise ValueError("cell counts must be non-negative integers")
        values, self._group = np.unique(lam, return_inverse=True)
        self._group = self._group.astype(np.int64)
        edges = np.arange(_BUCKETS + 1) / _BUCKETS
        tables, cdfs, starts, lows = [], [], [], []
        offset = 0
        for k, value in enumerate(values):
            width = 12.0 * np.sqrt(value) + 30.0
            lo = int(max(0.0, value - width))
            x = np.arange(lo, int(value + width) + 1)
            cdf = pdtr(x, value) if value > 0 else np.ones(x.size)
            first = np.searchsorted(cdf, edges[:-1], side="right")
            last = np.searchsorted(cdf, edges[1:], side="left")
            tables.append(np.where(first == last, lo + first, -1).astype(np.int32))
            cdfs.append(cdf + 2.0 * k)  # groups kept apart in one sorted array
            starts.append(offset)
            lows.append(lo)
            offset += cdf.size
        self._table = np.concatenate(tables)
        self._cdf = np.concatenate(cdfs)
        self._start = np.asarray(starts, np.int64)
        self._low = np.asarray(lows, np.int64)

    def draw_iid(self, rng: np.random.Generator, shape: tuple[int, ...]) -> FloatArray:
        """Draws of shape ``shape`` from a sampler built for a single cell."""
        if self._group.size != 1:
            raise ValueError("draw_iid needs a sampler of exactly one cell")
        bucket = rng.integers(0, _BUCKETS, size=shape, dtype=np.int16)
        out = self._table[bucket]
        hard = np.flatnonzero(out < 0)
        if hard.size:
            u = (bucket.reshape(-1)[hard] + rng.random(hard.size)) / _BUCKETS
            out.reshape(-1)[hard] = np.searchsorted(self._cdf, u, side="right") + self._low[0]
        return out.astype(np.float64)

    def draw(self, rng: np.random.Generator, rounds: int) -> FloatArray:
        """``(rounds, cells)`` independent Poisson draws."""
        bucket = rng.integers(0, _BUCKETS, size=(rounds, self._group.size), dtype=np.int16)
        out = self._table[self._group * _BUCKETS + bucket]
        hard = np.flatnonzero(out < 0)
        if hard.size:
            group = self._group[hard % self._group.size]
            u = (bucket.reshape(-1)[hard] + rng.random(hard.size)) / _BUCKETS
            pos = np.searchsorted(self._cdf, u + 2.0 * group, side="right")
            out.reshape(-1)[hard] = pos - self._start[group] + self._low[group]
        return out.astype(np.float64)
