"""Demand over time on the shipped fleets: 24 hourly periods against sizing every hour at the peak.

Each workload of instances/fleets/{mixed,superpod}.toml follows a diurnal curve whose largest
value is its demand in the file (so today's candidates cover it), peaking at its own hour:

    D_w(t) = D_w * (LOW + (1 - LOW) * (1 + cos(2 pi (t - peak_w) / 24)) / 2),  t = 0..23

The candidates (frontiers, the slow part) are computed once per fleet and cached in
benchmarks/.cache/; the multi-period program is then timed under both price models and
compared with today's one-period plan at every workload's peak (what sizing each hour at
the peak buys). Run: `python benchmarks/bench_fleet_periods.py [--workers 2] [--fresh]`.
"""

from __future__ import annotations

import argparse
import math
import pickle
import time
from pathlib import Path

from formulations.fleet_periods import PeriodProblem, check_plan, peak_gpus
from solver.io.fleet import load_fleet
from solver.sizing.candidates import compute_frontiers
from solver.sizing.period_solve import solve_periods
from solver.sizing.size import build_problem
from solver.sizing.solve import solve_fleet

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(__file__).resolve().parent / ".cache"
FLEETS = ("mixed", "superpod")
PERIODS = 24
LOW = 0.35
"""The night trough as a share of the peak."""
PEAK_HOURS = (14, 10, 21)
"""Peak hour of the first, second and third workload (chat by day, work hours, agents late)."""


def diurnal(demand: float, peak_hour: int) -> tuple[float, ...]:
    return tuple(
        demand * (LOW + (1 - LOW) * (1 + math.cos(2 * math.pi * (t - peak_hour) / PERIODS)) / 2)
        for t in range(PERIODS)
    )


def candidates(name: str, workers: int, fresh: bool):
    """(fleet problem at the peak, frontier seconds), cached."""
    CACHE.mkdir(exist_ok=True)
    cached = CACHE / f"{name}.pickle"
    if cached.exists() and not fresh:
        return pickle.loads(cached.read_bytes())
    fleet = load_fleet(ROOT / "instances" / "fleets" / f"{name}.toml")
    start = time.perf_counter()
    archs = tuple(fleet.search.get("architectures", ("afd", "ep", "tp")))
    frontiers, classes = compute_frontiers(fleet, archs, workers=workers, progress=False)
    problem, _, reasons = build_problem(fleet, frontiers, classes)
    out = (problem, time.perf_counter() - start, sorted(reasons))
    cached.write_bytes(pickle.dumps(out))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fresh", action="store_true", help="recompute the cached candidates")
    parser.add_argument("--time-limit", type=float, default=600.0)
    args = parser.parse_args()
    for name in FLEETS:
        problem, frontier_s, unserved = candidates(name, args.workers, args.fresh)
        print(
            f"{name}: {len(problem.candidates)} candidates, frontiers {frontier_s:.1f} s"
            + (f", no deployment for workloads {unserved}" if unserved else "")
        )
        demands = tuple(
            zip(
                *(diurnal(d, PEAK_HOURS[w % 3]) for w, d in enumerate(problem.demands)),
                strict=True,
            )
        )
        start = time.perf_counter()
        at_peak = solve_fleet(problem, time_limit_s=args.time_limit)
        peak_s = time.perf_counter() - start
        print(
            f"  every hour at the peak: {at_peak.status}, ${at_peak.cost_per_hour or 0:,.2f}/h "
            f"({peak_s:.2f} s)"
        )
        for model in ("peak", "per_period"):
            periods = PeriodProblem(problem, demands, model)
            start = time.perf_counter()
            solved = solve_periods(periods, time_limit_s=args.time_limit)
            took = time.perf_counter() - start
            if solved.replicas is None or solved.cost_per_hour is None:
                print(f"  {PERIODS} periods, {model}: {solved.status} after {took:.2f} s")
                continue
            assert not check_plan(periods, solved.replicas)
            saving = 1 - solved.cost_per_hour / (at_peak.cost_per_hour or math.inf)
            print(
                f"  {PERIODS} periods, {model:10s}: {solved.status}, "
                f"${solved.cost_per_hour:,.2f}/h ({saving:.1%} below the peak sizing), "
                f"{took:.2f} s, {solved.kept} candidates kept, GPUs bought "
                f"{peak_gpus(periods, solved.replicas)}"
            )


if __name__ == "__main__":
    main()
