"""Columnar battle data: the one input type every ranking function takes.

Battles are stored as integer model indices plus an outcome code so that the fitting code
works on plain numpy arrays; names live once in ``models``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

Outcome = Literal["model_a", "model_b", "tie", "tie (bothbad)"]
OUTCOMES: tuple[Outcome, ...] = ("model_a", "model_b", "tie", "tie (bothbad)")
A_WINS, B_WINS, TIE, BOTHBAD = 0, 1, 2, 3
# Style features, versioned: version 1 is FastChat's four; version 2 adds emoji and
# VisionArena's specificity (named entities). StyleCounts.as_tuple is in this order.
STYLE_FEATURES_V1: tuple[str, ...] = ("tokens", "headers", "list_items", "bold")
STYLE_FEATURES: tuple[str, ...] = (*STYLE_FEATURES_V1, "emoji", "entities")
STYLE_VERSION = 2

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def _frozen(values: npt.ArrayLike, dtype: npt.DTypeLike) -> np.ndarray:
    arr = np.array(values, dtype=dtype, copy=True)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Battles:
    """Voted battles in time order (or with ``tstamp`` to define it).

    ``outcome`` holds codes ``A_WINS``/``B_WINS``/``TIE``/``BOTHBAD`` (index into
    ``OUTCOMES``). ``style_a``/``style_b`` are optional ``(n, k)`` counts of the features
    ``style_features`` (default: ``STYLE_FEATURES_V1`` for 4 columns, ``STYLE_FEATURES``
    for 6); style control needs them. Arrays are copied and made read-only.
    """

    models: tuple[str, ...]
    model_a: IntArray
    model_b: IntArray
    outcome: npt.NDArray[np.int8]
    tstamp: FloatArray | None = None
    style_a: FloatArray | None = None
    style_b: FloatArray | None = None
    style_features: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "models", tuple(self.models))
        set_(self, "model_a", _frozen(self.model_a, np.int64).reshape(-1))
        set_(self, "model_b", _frozen(self.model_b, np.int64).reshape(-1))
        set_(self, "outcome", _frozen(self.outcome, np.int8).reshape(-1))
        n, m = self.model_a.size, len(self.models)
        if len(set(self.models)) != m:
            raise ValueError("model names must be unique")
        if self.model_b.size != n or self.outcome.size != n:
            raise ValueError("model_a, model_b and outcome must have the same length")
        if n and (min(self.model_a.min(), self.model_b.min()) < 0
                  or max(self.model_a.max(), self.model_b.max()) >= m):
            raise ValueError("model index out of range")
        if np.any(self.model_a == self.model_b):
            raise ValueError("a model cannot battle itself")
        if n and (self.outcome.min() < 0 or self.outcome.max() > BOTHBAD):
            raise ValueError("outcome codes must be 0..3")
        if self.tstamp is not None:
            set_(self, "tstamp", _frozen(self.tstamp, np.float64).reshape(-1))
            if self.tstamp.size != n:
                raise ValueError("tstamp must have one entry per battle")
        if (self.style_a is None) != (self.style_b is None):
            raise ValueError("give style counts for both sides or neither")
        features = self.style_features
        if self.style_a is not None and features is None:
            width = np.shape(self.style_a)[-1] if np.ndim(self.style_a) == 2 else -1
            features = {len(STYLE_FEATURES_V1): STYLE_FEATURES_V1,
                        len(STYLE_FEATURES): STYLE_FEATURES}.get(width)
            if features is None:
                raise ValueError(f"style_a must have shape (n, {len(STYLE_FEATURES_V1)}) or "
                                 f"(n, {len(STYLE_FEATURES)}) without style_features")
        if features is not None:
            features = tuple(features)
            unknown = [f for f in features if f not in STYLE_FEATURES]
            if unknown or len(set(features)) != len(features) or not features:
                raise ValueError(f"style_features must be distinct names of {STYLE_FEATURES}")
            set_(self, "style_features", features)
        for name in ("style_a", "style_b"):
            value = getattr(self, name)
            if value is not None:
                arr = _frozen(value, np.float64)
                if arr.shape != (n, len(features)):  # type: ignore[arg-type]
                    raise ValueError(f"{name} must have shape (n, {len(features)})")  # type: ignore[arg-type]
                if np.any(arr < 0):
                    raise ValueError(f"{name} counts must be non-negative")
                set_(self, name, arr)

    def __len__(self) -> int:
        return int(self.model_a.size)

    @classmethod
    def from_names(
        cls,
        model_a: Sequence[str],
        model_b: Sequence[str],
        winner: Sequence[Outcome],
        *,
        tstamp: Sequence[float] | None = None,
        style_a: npt.ArrayLike | None = None,
        style_b: npt.ArrayLike | None = None,
        models: Sequence[str] | None = None,
        style_features: Sequence[str] | None = None,
    ) -> Battles:
        """Build from name columns; ``models`` fixes the model order (default: sorted)."""
        names = tuple(models) if models is not None else tuple(sorted({*model_a, *model_b}))
        index = {name: k for k, name in enumerate(names)}
        codes = {o: k for k, o in enumerate(OUTCOMES)}
        try:
            a = [index[x] for x in model_a]
            b = [index[x] for x in model_b]
        except KeyError as exc:
            raise ValueError(f"model {exc.args[0]!r} is not in models") from exc
        try:
            out = [codes[w] for w in winner]
        except KeyError as exc:
            raise ValueError(f"unknown outcome {exc.args[0]!r}; use one of {OUTCOMES}") from exc
        return cls(names, np.array(a, np.int64), np.array(b, np.int64), np.array(out, np.int8),
                   tstamp=None if tstamp is None else np.asarray(tstamp, np.float64),
                   style_a=style_a, style_b=style_b,
                   style_features=None if style_features is None else tuple(style_features))

    def subset(self, rows: npt.ArrayLike) -> Battles:
        """The battles selected by a boolean mask or index array, same model list."""
        sel = np.asarray(rows)
        def pick(x: np.ndarray | None) -> np.ndarray | None:
            return None if x is None else x[sel]

        return Battles(self.models, self.model_a[sel], self.model_b[sel], self.outcome[sel],
                       tstamp=pick(self.tstamp), style_a=pick(self.style_a),
                       style_b=pick(self.style_b), style_features=self.style_features)

    def model_index(self, name: str) -> int:
        try:
            return self.models.index(name)
        except ValueError:
            raise ValueError(f"unknown model {name!r}") from None

    def battles_per_model(self) -> IntArray:
        m = len(self.models)
        return np.bincount(self.model_a, minlength=m) + np.bincount(self.model_b, minlength=m)
