"""Server-side SVG charts (matplotlib's object API, no pyplot: safe in worker threads).

Text is drawn as paths, so a model name cannot inject markup into the SVG.
"""

from __future__ import annotations

import asyncio
import io

from matplotlib.figure import Figure


def _line_chart_svg(title: str, days: list[str], series: dict[str, list[int]]) -> bytes:
    fig = Figure(figsize=(8, 3), dpi=96)
    ax = fig.add_subplot()
    x = range(len(days))
    for name, values in sorted(series.items()):
        ax.plot(x, values, marker="o", markersize=3, label=name[:40])
    ax.set_title(title)
    ax.set_xticks(list(x), [d[5:] for d in days], rotation=45, fontsize=7)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize=7, loc="upper left", ncols=2)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


async def line_chart_svg(title: str, days: list[str], series: dict[str, list[int]]) -> bytes:
    return await asyncio.to_thread(_line_chart_svg, title, days, series)
