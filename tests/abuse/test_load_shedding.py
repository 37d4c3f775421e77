"""Load shedding: refuse when waiting jobs exceed what the live workers can absorb."""

from __future__ import annotations

import pytest

from app.abuse.load_shedding import should_shed


@pytest.mark.parametrize(
    ("depth", "workers", "per_worker", "shed"),
    [
        (0, 1, 4, False),
        (3, 1, 4, False),
        (4, 1, 4, True),
        (7, 2, 4, False),
        (8, 2, 4, True),
        (100, 30, 4, False),
        (0, 0, 4, True),  # nobody can serve: do not queue forever
        (0, 1, 1, False),
        (1, 1, 1, True),
    ],
)
def test_should_shed(depth: int, workers: int, per_worker: int, shed: bool) -> None:
    assert should_shed(depth, workers, per_worker) is shed


def test_more_workers_never_shed_more() -> None:
    for depth in range(0, 40):
        decisions = [should_shed(depth, w, 3) for w in range(0, 15)]
        assert decisions == sorted(decisions, reverse=True)


@pytest.mark.parametrize(("depth", "workers", "per_worker"), [(-1, 1, 1), (1, -1, 1), (1, 1, 0)])
def test_invalid_inputs_are_rejected(depth: int, workers: int, per_worker: int) -> None:
    with pytest.raises(ValueError):
        should_shed(depth, workers, per_worker)
