"""Store a computed run as snapshot rows, and read the latest one back for the page."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.leaderboard_tables import LeaderboardSnapshot
from app.db.models import ModelEntry
from app.leaderboard.compute import OVERALL, LeaderboardRun
from app.leaderboard.plots import plots_for, render_plot, render_svgs

BoardPlots = dict[tuple[str, str], dict[str, str]]  # (kind, slice) → plot → SVG text


def render_run_plots(run: LeaderboardRun) -> BoardPlots:
    """SVG text of every plot of the overall boards (what the page opens on), drawn with
    the run (slow: run it in a thread). The other boards' plots are drawn when first
    asked for (``snapshot_plot``): a run over 100 models has some 40 boards, and drawing
    all their plots took longer than reading and fitting a million battles."""
    return {(b.kind, b.slice): render_svgs(b.payload) for b in run.boards
            if b.slice == OVERALL}


def _board_plots(payload: dict[str, Any], drawn: dict[str, str] | None) -> dict[str, Any]:
    """A snapshot's ``plots``: each plot the board has, as SVG text where drawn, else
    None (drawn on the first request)."""
    return {name: (drawn or {}).get(name) for name in plots_for(payload)}


async def store_run(session: AsyncSession, run: LeaderboardRun, *, source: str = "cli",
                    plots: BoardPlots | None = None, now: datetime | None = None) -> uuid.UUID:
    """One row per (kind, slice), sharing a run id; an empty run stores an empty overall
    board so the page can say when it last looked. ``plots`` from ``render_run_plots``
    (rendered here when not given); a board's plots not in it are drawn on request.""" 
    plots = await asyncio.to_thread(render_run_plots, run) if plots is None else plots
    run_id = uuid.uuid4()
    created = now or datetime.now(UTC)
    boards = run.boards or []
    rows = [
        LeaderboardSnapshot(
            run_id=run_id, created_at=created, cutoff=run.cutoff, kind=b.kind, slice=b.slice,
            source=source, payload=b.payload,
            plots=_board_plots(b.payload, plots.get((b.kind, b.slice))),
            cleaning=run.cleaning, code_version=run.code_version, seed=run.params.seed,
            n_battles_total=run.n_total, n_battles_used=b.n_battles,
        )
        for b in boards
    ]
    if not rows:
        rows = [LeaderboardSnapshot(
            run_id=run_id, created_at=created, cutoff=run.cutoff, kind="default",
            slice=OVERALL, source=source, payload={"rows": [], "models": [], "winrate": []},
            plots={}, cleaning=run.cleaning, code_version=run.code_version,
            seed=run.params.seed, n_battles_total=run.n_total, n_battles_used=0,
        )]
    session.add_all(rows)
    await record_model_votes(session, run)
    await session.commit()
    return run_id


async def record_model_votes(session: AsyncSession, run: LeaderboardRun) -> None:
    """Each model's counted votes at this run (``models.ranked_votes``): the lifecycle's
    listing threshold and new-model boost read them when drawing a battle. Only a run
    with lifecycle rules and the newest cutoff writes them (a re-export of an old day
    must not set counts back)."""
    overall = run.board("default")
    if run.params.lifecycle is None or overall is None:
        return
    newer = await session.scalar(select(func.max(LeaderboardSnapshot.cutoff)))
    if newer is not None and _aware(newer) > run.cutoff:
        return
    counts = {r["model"]: r["votes"] for r in [*overall.payload["rows"],
                                               *overall.payload.get("testing", [])]}
    for name, votes in counts.items():
        await session.execute(update(ModelEntry).where(ModelEntry.name == name)
                              .values(ranked_votes=votes))


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@dataclass(frozen=True)
class SnapshotView:
    """The snapshot the page shows, and what else the same run offers."""

    snapshot: LeaderboardSnapshot
    kinds: list[str]
    slices: list[str]


async def latest_snapshot(session: AsyncSession, kind: str = "default",
                          slice_: str = OVERALL) -> SnapshotView | None:
    """The board for (kind, slice) of the run with the newest data (latest cutoff, then
    latest computed; re-exporting an old date does not replace today's board), falling
    back to that run's overall default board."""
    run_id = await session.scalar(
        select(LeaderboardSnapshot.run_id)
        .order_by(LeaderboardSnapshot.cutoff.desc(), LeaderboardSnapshot.created_at.desc(),
                  LeaderboardSnapshot.id)
        .limit(1)
    )
    if run_id is None:
        return None
    boards = [(k, s) for k, s in (await session.execute(
        select(LeaderboardSnapshot.kind, LeaderboardSnapshot.slice)
        .where(LeaderboardSnapshot.run_id == run_id)
    )).all()]
    kinds = sorted({k for k, _ in boards}, key=lambda k: (k != "default", k))
    slices = sorted({s for _, s in boards}, key=lambda s: (s != OVERALL, s))
    if (kind, slice_) not in boards:
        kind, slice_ = boards[0] if ("default", OVERALL) not in boards else ("default", OVERALL)
    snapshot = await session.scalar(
        select(LeaderboardSnapshot).where(
            LeaderboardSnapshot.run_id == run_id,
            LeaderboardSnapshot.kind == kind,
            LeaderboardSnapshot.slice == slice_,
        )
    )
    assert snapshot is not None
    return SnapshotView(snapshot=snapshot, kinds=kinds, slices=slices)


async def snapshot_plot(session: AsyncSession, snapshot_id: uuid.UUID, name: str) -> str | None:
    """A plot of a snapshot as SVG text; None when the board has no such plot. One not
    drawn with the run (None in ``plots``) is drawn now, in a thread, from the stored
    payload (the drawing is deterministic) and kept in the row for the next request."""
    snap = await session.get(LeaderboardSnapshot, snapshot_id)
    if snap is None:
        return None
    plots = snap.plots or {}
    value = plots.get(name)
    if isinstance(value, str):
        return value
    if name not in plots:
        return None
    svg = (await asyncio.to_thread(render_plot, snap.payload, name))["svg"].decode()
    await session.execute(update(LeaderboardSnapshot).where(
        LeaderboardSnapshot.id == snapshot_id).values(plots={**plots, name: svg}))
    await session.commit()
    return svg
