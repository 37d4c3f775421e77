"""The score-against-turn plot of FIRE runs (matplotlib, Agg, PNG): one line per run, the
mean teacher score at each turn (a dialogue that stopped keeps its last score), tau dashed."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def score_plot_png(curves: Mapping[str, Sequence[float | None]], tau: int) -> bytes:
    fig = Figure(figsize=(6.0, 3.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width = 1
    for label, curve in curves.items():
        points = [(t, v) for t, v in enumerate(curve) if v is not None]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label=label)
            width = max(width, len(curve))
    ax.axhline(tau, linestyle="--", color="grey", linewidth=1, label=f"τ = {tau}")
    ax.set_xlabel("turn (0 = first answer)")
    ax.set_ylabel("mean teacher score")
    ax.set_xticks(range(width))
    ax.set_ylim(0, 10.5)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("FIRE: score against turn")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return buf.getvalue()
