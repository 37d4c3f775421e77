"""Ranking engine speed on 1,000,000 simulated battles over 100 models.

Run: .venv/bin/python benchmarks/bench_ranking.py [--baseline-rounds 20] [--reweight]
(--reweight: Bradley-Terry and style control with pair-frequency reweighting, the
leaderboard's default; online Elo has no weights.)
Prints a markdown table (median of --repeat runs per case). Results: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from app.ranking import (
    PAIR_FREQUENCY,
    STYLE_FEATURES,
    Battles,
    aggregate_pairs,
    fit_bradley_terry,
    fit_online_elo,
    fit_style_control,
    simulate_battles,
)

N_BATTLES, N_MODELS = 1_000_000, 100


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall-clock and process CPU seconds (CPU time is less sensitive to other
    people's load on a shared machine; with 2 threads it can exceed wall time)."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def lbfgs_bootstrap(battles: object, rounds: int, seed: int = 0) -> np.ndarray:
    """The usual approach: scipy L-BFGS from zero on each resampled set of pair counts."""
    counts = aggregate_pairs(battles)  # type: ignore[arg-type]
    m, i, j = len(counts.models), counts.i, counts.j
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(rounds):
        cells = rng.poisson(counts.cells).astype(np.float64)
        wins, totals = cells[:, 0] + 0.5 * cells[:, 2], cells.sum(axis=1)

        def f(theta: np.ndarray, wins: np.ndarray = wins,
              totals: np.ndarray = totals) -> tuple[float, np.ndarray]:
            eta = theta[i] - theta[j]
            r = wins - totals * expit(eta)
            grad = np.bincount(i, r, m) - np.bincount(j, r, m)
            return -float((totals * log_expit(eta) - (totals - wins) * eta).sum()), -grad

        out.append(minimize(f, np.zeros(m), jac=True, method="L-BFGS-B").x)
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline-rounds", type=int, default=20)
    parser.add_argument("--reweight", action="store_true",
                        help="pair-frequency reweighting in Bradley-Terry and style control")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--features", type=int, choices=(4, 6), default=6,
                        help="style features: 6 = the leaderboard's default (STYLE_FEATURES: "
                             "emoji and entity counts beside FastChat's four, drawn here "
                             "without an effect), 4 = FastChat's")
    args = parser.parse_args()
    rw = PAIR_FREQUENCY if args.reweight else None
    rng = np.random.default_rng(0)
    battles = simulate_battles(rng.normal(0, 0.6, N_MODELS), N_BATTLES,
                               style_coef=[0.3, 0.05, 0.1, 0.05], seed=1)
    if args.features == 6:
        extra = np.random.default_rng(2)
        more = [extra.poisson((0.3, 2.0), (N_BATTLES, 2)).astype(np.float64) for _ in "ab"]
        assert battles.style_a is not None and battles.style_b is not None
        battles = Battles(battles.models, battles.model_a, battles.model_b, battles.outcome,
                          tstamp=battles.tstamp,
                          style_a=np.hstack([battles.style_a, more[0]]),
                          style_b=np.hstack([battles.style_b, more[1]]),
                          style_features=STYLE_FEATURES)
    cases: list[tuple[str, float, float, str]] = []

    def add(name: str, fn: Callable[[], object], target: str, repeat: int = args.repeat) -> None:
        wall, cpu = timed(fn, repeat)
        cases.append((name, wall, cpu, target))
        print(f"{name}: {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)

    add("online Elo (1M battles)", lambda: fit_online_elo(battles), "<= 1 s")
    add("Bradley-Terry + 1000-round bootstrap (+ sandwich)",
        lambda: fit_bradley_terry(battles, n_bootstrap=1000, reweighting=rw), "<= 2 s")
    add("style control + sandwich CIs", lambda: fit_style_control(battles, reweighting=rw),
        "<= 2 s")
    add("style control + 100-round bootstrap",
        lambda: fit_style_control(battles, intervals=("bootstrap",), n_bootstrap=100,
                                  reweighting=rw),
        "<= 12 s", repeat=1)
    if not args.skip_baseline:
        r = args.baseline_rounds
        wall, cpu = timed(lambda: lbfgs_bootstrap(battles, r), 1)
        cases.append((f"baseline: scipy L-BFGS bootstrap, {r} rounds x {1000 // r} "
                      "(extrapolated)", wall * 1000 / r, cpu * 1000 / r, "reference"))
    print()
    print(f"{platform.processor() or platform.machine()}, {N_BATTLES:,} battles, "
          f"{N_MODELS} models, numpy {np.__version__}, reweighting "
          f"{'pair frequency' if rw else 'off'}, {args.features} style features")
    print("| case | wall s | CPU s | target |")
    print("|---|---:|---:|---|")
    for name, wall, cpu, target in cases:
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {target} |")


if __name__ == "__main__":
    main()
