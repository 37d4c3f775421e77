"""Adaptive vs uniform pair sampling in the simulator (app/ranking/adaptive_sim.py):
20 models 25 Elo apart, 20% ties; votes until the true top 5 are in order with disjoint
95% intervals between neighbours; median over seeds; curves as a plot.

Run: .venv/bin/python benchmarks/bench_adaptive.py [--seeds 20] [--jobs 2] [--out DIR]
Prints a markdown table; results: benchmarks/README.md. Seeded: rerunning gives the same
numbers.
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from rich.progress import Progress

from app.ranking.adaptive_sim import SimResult, run_until_separated

STRATEGIES = ("uniform", "adaptive")


def one(job: tuple[str, int]) -> SimResult:
    return run_until_separated(job[0], job[1])  # type: ignore[arg-type]


def share_separated(results: list[SimResult], votes: int) -> float:
    """Share of seeds separated by ``votes`` (first time separated counts)."""
    done = [r.votes_needed is not None and r.votes_needed <= votes for r in results]
    return sum(done) / len(done)


def plot(results: dict[str, list[SimResult]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.8))
    ax = fig.add_subplot()
    grid = list(range(0, 150_001, 2500))
    for name, rs in results.items():
        ax.plot(grid, [share_separated(rs, v) for v in grid], label=name)
    ax.set_xlabel("votes")
    ax.set_ylabel("share of seeds separated")
    ax.set_title("Top 5 of 20 models (25 Elo apart) separated")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with matplotlib.rc_context({"svg.hashsalt": "vlm-arena"}):
        fig.savefig(path, metadata={"Date": None})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks"))
    args = parser.parse_args()
    jobs = [(s, seed) for seed in range(args.seeds) for s in STRATEGIES]
    results: dict[str, list[SimResult]] = {s: [] for s in STRATEGIES}
    started = time.perf_counter()
    with Progress() as progress, ProcessPoolExecutor(args.jobs) as pool:
        task = progress.add_task("simulating", total=len(jobs))
        for r in pool.map(one, jobs):
            results[r.strategy].append(r)
            progress.advance(task)
    medians = {}
    print(f"\n{args.seeds} seeds, {time.perf_counter() - started:.0f} s")
    print("| strategy | median votes | min | max | not separated by 150k |")
    print("|---|---:|---:|---:|---:|")
    for name, rs in results.items():
        needed = [r.votes_needed if r.votes_needed is not None else 10**9 for r in rs]
        medians[name] = statistics.median(needed)
        found = [n for n in needed if n < 10**9]
        print(f"| {name} | {medians[name]:.0f} | {min(found) if found else '-'} | "
              f"{max(found) if found else '-'} | {sum(n >= 10**9 for n in needed)} |")
    print(f"\nratio uniform / adaptive (medians): {medians['uniform'] / medians['adaptive']:.2f}")
    print("per seed:", {n: [r.votes_needed for r in rs] for n, rs in results.items()})
    print("\n| votes | uniform separated | adaptive separated |\n|---:|---:|---:|")
    for v in (10_000, 20_000, 30_000, 40_000, 60_000, 80_000, 100_000, 150_000):
        print(f"| {v} | {share_separated(results['uniform'], v):.2f} | "
              f"{share_separated(results['adaptive'], v):.2f} |")
    plot(results, args.out / "adaptive_sampling.svg")


if __name__ == "__main__":
    main()
