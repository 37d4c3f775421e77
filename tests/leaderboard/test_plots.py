"""The win-rate heat map labels its cells for a readable number of models, and only its
colours beyond (100 models x 100 labels, on each of 39 boards, took most of a 1M-battle
leaderboard run)."""

from __future__ import annotations

import random

from app.leaderboard.plots import LABELLED_CELLS_UP_TO, render_plot


def _payload(n: int) -> dict:
    rng = random.Random(n)
    models = [f"model-{i:03d}" for i in range(n)]
    return {"models": models,
            "winrate": [[None if i == j else round(rng.random(), 4) for j in range(n)]
                        for i in range(n)]}


def test_cells_labelled_up_to_the_limit_only() -> None:
    small = render_plot(_payload(LABELLED_CELLS_UP_TO), "winrate")["svg"].decode()
    big = render_plot(_payload(100), "winrate", formats=("svg", "png"))
    text = big["svg"].decode()
    n = LABELLED_CELLS_UP_TO
    cells = n * (n - 1)
    # one <text> per label: the cells', the ticks' (2n) and a few axis and colour-bar labels
    assert small.count("<text") >= cells + 2 * n
    assert f">{_payload(n)['winrate'][0][1]:.2f}<" in small
    assert "model-099" in text and text.count("<text") < 2 * 100 + 30
    assert big["png"].startswith(b"\x89PNG") and len(big["png"]) < 2_000_000
