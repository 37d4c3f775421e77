"""Write one dated export folder from a computed run: leaderboard JSON and CSV, plots (PNG
and SVG), a self-contained HTML page, the battles as Parquet, and a manifest.

Reproducible by construction: no wall-clock time in any file (only the date), sorted keys
and rows, seeded fits, deterministic plots; the manifest lists the sha256 of every file.
The folder is written next to its final place and renamed in, so readers never see half.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import jinja2

from app.leaderboard.compute import KIND_LABELS, LeaderboardRun
from app.leaderboard.dataset import SCHEMA, releasable, write_battles_parquet
from app.leaderboard.plots import plots_for, render_plot
from app.storage.folders import swap_in

Progress = Callable[[str], None]
CSV_FIELDS = ("kind", "slice", "rank", "model", "rating", "ci_lower", "ci_upper", "votes",
              "status")  # status: the lifecycle badge (empty without lifecycle rules)

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True, keep_trailing_newline=True,
)


def board_stem(kind: str, slice_: str) -> str:
    """A file-name-safe name for one board, e.g. ``style__category-ocr``."""
    return f"{kind}__{re.sub(r'[^A-Za-z0-9_.-]+', '-', slice_)}"


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _csv_bytes(run: LeaderboardRun) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for b in run.boards:
        for row in b.payload["rows"]:
            writer.writerow({"kind": b.kind, "slice": b.slice, **row})
    return buf.getvalue().encode()


def _inline_svg(svg: bytes) -> str:
    text = svg.decode()
    return text[text.index("<svg"):]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


RenderedPlots = dict[tuple[str, str, str], dict[str, bytes]]  # (kind, slice, plot) → fmt → bytes


def render_export_plots(run: LeaderboardRun) -> RenderedPlots:
    """Every plot of every board as SVG and PNG (each figure drawn once)."""
    return {(b.kind, b.slice, name): render_plot(b.payload, name, ("svg", "png"))
            for b in run.boards for name in plots_for(b.payload)}


def snapshot_svgs(plots: RenderedPlots) -> dict[tuple[str, str], dict[str, str]]:
    """The SVG text per board, as ``store_run`` wants it."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for (kind, slice_, name), rendered in plots.items():
        out.setdefault((kind, slice_), {})[name] = rendered["svg"].decode()
    return out


def write_export(run: LeaderboardRun, out_root: Path, day: date, *,
                 plots: RenderedPlots | None = None,
                 progress: Progress | None = None,
                 extra_files: Mapping[str, bytes] | None = None) -> dict[str, Any]:
    """Write ``out_root/<day>/`` and return the manifest (also written as manifest.json).
    ``plots`` from ``render_export_plots`` (rendered here when not given); ``extra_files``
    (relative path -> bytes, e.g. the bench's ``bench/<version>.json``) are written too and
    listed in the manifest like every other file."""
    def step(label: str) -> None:
        if progress is not None:
            progress(label)

    out_root.mkdir(parents=True, exist_ok=True)
    final = out_root / day.isoformat()
    tmp = out_root / f".{day.isoformat()}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "plots").mkdir(parents=True)

    boards_json = [b.payload for b in run.boards]
    (tmp / "leaderboard.json").write_bytes(_json_bytes({
        "date": day.isoformat(),
        "code_version": run.code_version,
        "seed": run.params.seed,
        "reweighting": run.params.reweighting.describe(),
        "ties": run.params.ties,
        "cleaning": run.cleaning,
        "boards": boards_json,
        "skipped_slices": run.skipped_slices,
    }))
    (tmp / "leaderboard.csv").write_bytes(_csv_bytes(run))
    step("leaderboard JSON and CSV")

    html_boards = []
    for b in run.boards:
        stem = board_stem(b.kind, b.slice)
        svgs = {}
        for name in plots_for(b.payload):
            rendered = (plots or {}).get((b.kind, b.slice, name)) or render_plot(
                b.payload, name, ("svg", "png"))
            for fmt, data in rendered.items():
                (tmp / "plots" / f"{stem}__{name}.{fmt}").write_bytes(data)
            svgs[name] = _inline_svg(rendered["svg"])
        html_boards.append({"anchor": stem, "kind_label": KIND_LABELS[b.kind],
                            "label": b.payload["label"], "payload": b.payload, "svg": svgs})
        step(f"plots {stem}")

    html = _templates.get_template("export.html").render(
        date=day.isoformat(), boards=html_boards, cleaning=run.cleaning,
        code_version=run.code_version, seed=run.params.seed,
    )
    (tmp / "index.html").write_text(html, encoding="utf-8")
    step("HTML page")

    n_rows = write_battles_parquet([*run.kept, *run.presets, *run.refinement],
                                   tmp / "battles.parquet")
    step("battles.parquet")

    for rel, data in sorted((extra_files or {}).items()):
        target = (tmp / rel).resolve()
        if tmp.resolve() not in target.parents or rel == "manifest.json":
            raise ValueError(f"extra export file {rel!r} is outside the export folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        step(rel)

    files = {
        str(p.relative_to(tmp)): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in sorted(tmp.rglob("*")) if p.is_file()
    }
    manifest = {
        "date": day.isoformat(),
        "code_version": run.code_version,
        "seed": run.params.seed,
        "params": json.loads(_json_bytes(asdict(run.params))),  # tuples as JSON lists
        "reweighting": run.params.reweighting.describe(),
        "ties": run.params.ties,
        "cleaning": run.cleaning,
        "rows": {
            "battles_considered": run.n_total,
            "battles_ranked": len(run.kept),
            "battles_parquet": n_rows,
            "battles_preset": sum(1 for b in [*run.kept, *run.presets]
                                  if b.is_preset and releasable(b)),
            "battles_refinement": sum(1 for b in [*run.kept, *run.refinement]
                                      if b.refinement and releasable(b)),
            "leaderboard_csv": sum(len(b.payload["rows"]) for b in run.boards),
            "boards": len(run.boards),
        },
        "boards": [{"kind": b.kind, "slice": b.slice, "battles": b.n_battles}
                   for b in run.boards],
        "skipped_slices": run.skipped_slices,
        "parquet_schema": SCHEMA.to_string(show_schema_metadata=False),
        "files": files,
    }
    (tmp / "manifest.json").write_bytes(_json_bytes(manifest))
    step("manifest")

    swap_in(tmp, final)
    return manifest
