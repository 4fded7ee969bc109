"""Benchmark `afd-solver sweep` on real solves against `solve` called in a plain loop.

Usage: python benchmarks/bench_sweep.py [--tpot 50] [--gbps 40] [--workers 2] [--repeat 1]

The points are a TPOT x scale-out grid (default 50 x 40 = 2,000 points) on
DeepSeek-V3 / H800 (paper profile), EP only with at most 16 nodes, so a point is a
few ms of real work (instance load, EP program, report rows). Prints points/s of the
plain loop and of the sweep on 1 worker (in process) and N worker processes, the
speed-up on N workers, and the sweep's overhead per point over the loop. The sweep
timings include validating the varied values and writing the store and CSV (no
plots); the validation time is also printed on its own.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from solver.analysis.sweep import (  # noqa: E402
    parse_varies,
    point_function,
    run_sweep,
    sweep_points,
    validate,
)

INSTANCE = str(Path(__file__).resolve().parents[1] / "instances" / "deepseek-v3-h800.toml")
SET_OVERRIDES: dict[str, Any] = {
    "search.architectures": ["ep"],
    "search.nodes": {"min": 1, "max": 16},
}


def _time_s(fn: Any) -> float:
    start_s = time.perf_counter()
    fn()
    return time.perf_counter() - start_s


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tpot", type=int, default=50, help="TPOT values (grid rows)")
    parser.add_argument("--gbps", type=int, default=40, help="scale-out values (grid columns)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes to compare")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs of each variant; the fastest counts (shared machines are noisy)",
    )
    args = parser.parse_args(argv)

    load_1min = os.getloadavg()[0]
    if load_1min > 0.5:
        print(f"note: load average {load_1min:.1f} before start; other processes skew results")
    varies = parse_varies(
        [
            ("workload.tpot_ms", [round(30 + 2.5 * i, 3) for i in range(args.tpot)]),
            ("hardware.scaleout_gbps", [round(20 + 5 * i, 3) for i in range(args.gbps)]),
        ]
    )
    points = sweep_points(varies, one_at_a_time=False)
    n = len(points)
    point_fn = point_function(SET_OVERRIDES)
    point_fn(INSTANCE, points[0])  # warm-up: imports and first-solve caches, paid by any CLI
    validate_s = _time_s(lambda: validate(INSTANCE, varies, SET_OVERRIDES))
    best_s = {"loop": math.inf, 1: math.inf, args.workers: math.inf}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeat):
            best_s["loop"] = min(
                best_s["loop"], _time_s(lambda: [point_fn(INSTANCE, p) for p in points])
            )
            for workers in (1, args.workers):
                out = Path(tmp) / f"w{workers}-{rep}"
                elapsed_s = _time_s(
                    lambda w=workers, o=out: run_sweep(
                        INSTANCE,
                        varies,
                        workers=w,
                        out_dir=o,
                        progress=False,
                        extra_overrides=SET_OVERRIDES,
                        make_plots=False,
                    )
                )
                best_s[workers] = min(best_s[workers], elapsed_s)

    loop_s, one_s, many_s = best_s["loop"], best_s[1], best_s[args.workers]
    print(
        f"points: {n} ({args.tpot} TPOT x {args.gbps} scale-out, EP, <= 16 nodes), "
        f"{1000 * loop_s / n:.2f} ms per point in the loop, best of {args.repeat}, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"validation of {sum(len(set(v.values)) for v in varies)} distinct values: "
        f"{validate_s:.2f} s (included in the sweep times)"
    )
    print(f"plain loop of solve : {n / loop_s:8.1f} points/s  ({loop_s:.2f} s)")
    print(f"sweep, 1 worker     : {n / one_s:8.1f} points/s  ({one_s:.2f} s)")
    print(f"sweep, {args.workers} workers   : {n / many_s:8.1f} points/s  ({many_s:.2f} s)")
    print(
        f"speed-up on {args.workers} workers vs plain loop: {loop_s / many_s:.2f}x "
        f"(vs sweep on 1 worker: {one_s / many_s:.2f}x)"
    )
    print(
        f"overhead per point, 1 worker : {1000 * (one_s - loop_s) / n:+.3f} ms "
        f"({100 * (one_s / loop_s - 1):+.1f} %)"
    )
    busy_s = args.workers * many_s  # worker-seconds spent, start-up and idle tail included
    print(
        f"overhead per point, {args.workers} workers: {1000 * (busy_s - loop_s) / n:+.3f} ms "
        f"of worker time ({100 * (busy_s / loop_s - 1):+.1f} %, pool start-up included)"
    )


if __name__ == "__main__":
    main()
