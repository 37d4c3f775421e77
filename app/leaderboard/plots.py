"""Server-side plots (matplotlib, Agg): the win-rate heatmap and ratings with CIs.

Output is deterministic: a fixed SVG hash salt, no creation date in the metadata, text
kept as text (``svg.fonttype = none``), and the object API instead of pyplot so nothing
global is left behind between calls or threads.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

PLOTS = ("winrate", "ratings", "latency")
_RC = {
    "svg.hashsalt": "vlm-arena",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "path.simplify": True,
}
_SVG_META = {"Date": None, "Creator": None}
_PNG_META = {"Software": None}


LABELLED_CELLS_UP_TO = 20  # models; beyond, the colours alone (100 x 100 labels took minutes)


def _winrate_figure(payload: dict[str, Any]) -> Figure:
    models: list[str] = payload["models"]
    matrix = [[float("nan") if v is None else v for v in row] for row in payload["winrate"]]
    n = max(len(models), 1)
    labelled = n <= LABELLED_CELLS_UP_TO
    size = 2.2 + 0.45 * n if labelled else min(2.2 + 0.2 * n, 24.0)
    fig = Figure(figsize=(size + 1.2, size))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(matrix if models else [[float("nan")]], cmap="RdBu", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(models)), models, rotation=45 if labelled else 90,
                  ha="right" if labelled else "center", fontsize=None if labelled else 6)
    ax.set_yticks(range(len(models)), models, fontsize=None if labelled else 6)
    ax.set_xlabel("Opponent")
    ax.set_ylabel("Model")
    ax.set_title("Win rate against opponent\n(ties count half)")
    for i, row in enumerate(matrix if labelled else []):
        for j, v in enumerate(row):
            if v == v:  # not NaN
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if abs(v - 0.5) > 0.3 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def _ratings_figure(payload: dict[str, Any]) -> Figure:
    rows = payload["rows"]
    n = max(len(rows), 1)
    fig = Figure(figsize=(6.4, 1.2 + 0.35 * n))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for y, row in enumerate(rows):
        lo, hi, r = row["ci_lower"], row["ci_upper"], row["rating"]
        if lo is not None and hi is not None:
            ax.errorbar([r], [y], xerr=[[r - lo], [hi - r]], fmt="o", color="#1f5fa8",
                        ecolor="#7aa6d6", capsize=3)
        else:
            ax.plot([r], [y], "o", color="#1f5fa8")
    ax.set_yticks(range(len(rows)), [row["model"] for row in rows])
    ax.invert_yaxis()
    ax.set_xlabel(f"Rating ({int(round(payload['ci_level'] * 100))}% CI, "
                  f"{payload['ci_method']})")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Ratings with confidence intervals")
    fig.tight_layout()
    return fig


def _latency_figure(payload: dict[str, Any]) -> Figure:
    """Rating against median time to first token: who is both good and fast."""
    latency = payload.get("latency") or {}
    rows = [r for r in payload["rows"] if r["model"] in latency]
    fig = Figure(figsize=(6.4, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for row in rows:
        x, y = latency[row["model"]]["ttft_ms"], row["rating"]
        lo, hi = row["ci_lower"], row["ci_upper"]
        if lo is not None and hi is not None:
            ax.errorbar([x], [y], yerr=[[y - lo], [hi - y]], fmt="o", color="#1f5fa8",
                        ecolor="#7aa6d6", capsize=3)
        else:
            ax.plot([x], [y], "o", color="#1f5fa8")
        ax.annotate(row["model"], (x, y), textcoords="offset points", xytext=(5, 4),
                    fontsize=8)
    ax.set_xlabel("Median time to first token (ms)")
    ax.set_ylabel("Rating")
    ax.grid(alpha=0.3)
    ax.set_title("Rating versus latency")
    fig.tight_layout()
    return fig


_FIGURES = {"winrate": _winrate_figure, "ratings": _ratings_figure,
            "latency": _latency_figure}


def plots_for(payload: dict[str, Any]) -> tuple[str, ...]:
    """The plots a board has: the latency plot only where latency was measured."""
    return tuple(n for n in PLOTS if n != "latency" or payload.get("latency"))


def render_plot(payload: dict[str, Any], name: str,
                formats: tuple[str, ...] = ("svg",)) -> dict[str, bytes]:
    """One plot of one leaderboard payload, drawn once and saved in each of ``formats``
    (``svg``, ``png``)."""
    if name not in _FIGURES:
        raise ValueError(f"unknown plot {name!r}; use one of {PLOTS}")
    out: dict[str, bytes] = {}
    with matplotlib.rc_context(_RC):
        fig = _FIGURES[name](payload)
        for fmt in formats:
            buf = io.BytesIO()
            if fmt == "svg":
                fig.savefig(buf, format="svg", metadata=_SVG_META)
            elif fmt == "png":
                fig.savefig(buf, format="png", dpi=110, metadata=_PNG_META)
            else:
                raise ValueError("formats are 'svg' and 'png'")
            out[fmt] = buf.getvalue()
    return out


def render_svgs(payload: dict[str, Any]) -> dict[str, str]:
    """Every plot as SVG text, to store with a snapshot."""
    return {name: render_plot(payload, name)["svg"].decode() for name in plots_for(payload)}
