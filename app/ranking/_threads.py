"""Keep BLAS single-threaded inside ranking code.

The matrices here are small (about 100 x 100); a multi-threaded OpenBLAS spends more time
waking and spinning threads than computing (10-20x slower on a busy 2-core machine), and
it competes with our own worker threads. ``threadpoolctl`` is used when installed (it
ships with scikit-learn); without it the code is correct, only slower.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - depends on the environment
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
