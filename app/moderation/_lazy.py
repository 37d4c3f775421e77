"""Load a model once, on first use, from any thread.

The gate runs model calls in worker threads (asyncio.to_thread); two first calls racing
must not load the same model twice (seconds of CPU, hundreds of MB).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LazyModel(Generic[T]):
    """A value built by `loader` on the first `get()`; later calls return the same object."""

    def __init__(self, loader: Callable[[], T]) -> None:
        self._loader = loader
        self._lock = threading.Lock()
        self._value: T | None = None

    def get(self) -> T:
        value = self._value
        if value is not None:
            return value
        with self._lock:
            if self._value is None:
                self._value = self._loader()
            return self._value

    @property
    def loaded(self) -> bool:
        return self._value is not None
