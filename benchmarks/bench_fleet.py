"""Benchmark `afd-solver size` on synthetic fleets of 10, 100 and 1,000 workloads.

Usage: python benchmarks/bench_fleet.py [--sizes 10,100,1000] [--workers 1,2] [--classes 4]
       [--mixed-pools true|false]

Workloads are drawn (fixed seed) from a menu of workload classes: a model, a
TPOT target and a context length; demands are log-uniform between 20,000 and
400,000 tokens/s. Hardware: h800, h20, h200 and b200 (sustained profile, 8-GPU
units, at most 32 units per pool), priced as in instances/SOURCES.md; h20 has an
inventory of 6 GPUs per workload (about a seventh of what the workloads' own
optima take), so the fleet program has to share it. `--scarce-h200 4` also
limits h200 (two scarce pools: a harder program). The fleets keep AFD's two pools on one
hardware (`mixed_pools = false`, 4 AFD pairings) unless `--mixed-pools true` (16 pairings,
and candidates spanning two pools, which the fleet program's mix form does not take).

Workloads of one class share their frontiers (one frontier per class, pairing
and architecture), so the integer programs behind the candidates scale with
the classes, not with the workloads; the fleet program scales with the
workloads. Printed per fleet size and worker count: end-to-end time of `size`
(frontiers, fleet program, EP-only and AFD-only programs, shadow prices), the
frontier time, the fleet solve (pruning, the workloads' own optima, the fleet
program) and the fleet program's own times on HiGHS: in mix form (what `size`
solves when inventories bind) and in replica form with the workload bounds,
stopped at --raw-limit seconds.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from formulations.fleet import build_fleet_program  # noqa: E402
from formulations.fleet_mixes import build_mix_program, fleet_mixes  # noqa: E402
from formulations.fleet_pruning import cover_optimum, prune  # noqa: E402
from solver.backends import make_backend  # noqa: E402
from solver.io.fleet import load_fleet  # noqa: E402
from solver.sizing.candidates import compute_frontiers  # noqa: E402
from solver.sizing.size import build_problem, size  # noqa: E402

MENU = [
    ("deepseek-v3", 50, 4096, 1.7),
    ("qwen3-235b-a22b", 30, 4096, 1.0),
    ("deepseek-v3", 30, 16384, 1.7),
    ("qwen3-235b-a22b", 50, 16384, 1.0),
    ("kimi-k2", 50, 8192, 1.0),
    ("gpt-oss-120b", 30, 8192, 1.0),
]
HARDWARE = [("h800", 2.79, None), ("h20", 1.24, 6), ("h200", 4.54, None), ("b200", 6.03, None)]


def fleet_toml(
    n: int,
    classes: int,
    seed: int = 7,
    h200_per_workload: int | None = None,
    mixed_pools: bool = True,
) -> str:
    rng = random.Random(seed)
    lines = [f'name = "synthetic-{n}"', f"mixed_pools = {str(mixed_pools).lower()}"]
    for i in range(n):
        model, tpot, context, mtp = MENU[rng.randrange(classes)]
        demand = round(math.exp(rng.uniform(math.log(2e4), math.log(4e5))))
        lines += [
            "[[workload]]",
            f'name = "w{i:04d}"',
            f'model = "{model}"',
            f"demand_tokens_per_s = {demand}",
            f"tpot_ms = {tpot}",
            f"context_tokens = {context}",
            f"mtp_acceptance = {mtp}",
            "step_gap_ms = 10",
        ]
    for name, price, per_workload in HARDWARE:
        if name == "h200" and h200_per_workload:
            per_workload = h200_per_workload
        lines += ["[[hardware]]", f'name = "{name}"', f"price_per_gpu_hour = {price}"]
        if per_workload is not None:
            lines.append(f"inventory_gpus = {per_workload * n}")
    lines += [
        "[search]",
        "unit_gpus = 8",
        "attention_nodes = { min = 1, max = 24 }",
        "ffn_nodes = { min = 1, max = 8 }",
        "nodes = { min = 1, max = 32 }",
    ]
    return "\n".join(lines) + "\n"


def program_times(path: Path, raw_limit_s: float) -> str:
    """HiGHS on the fleet program in mix form and in replica form (with the workload bounds)."""
    fleet = load_fleet(path)
    frontiers, classes = compute_frontiers(fleet, ("afd", "ep"), workers=2, progress=False)
    problem, _, _ = build_problem(fleet, frontiers, classes)
    start = time.perf_counter()
    pruned = problem.restrict(prune(problem))
    members: list[list[int]] = [[] for _ in pruned.demands]
    for i, c in enumerate(pruned.candidates):
        members[c.workload].append(i)
    bounds = [cover.cost_units for cover in (cover_optimum(pruned, m) for m in members) if cover]
    prep_s = time.perf_counter() - start
    start = time.perf_counter()
    mixed = fleet_mixes(pruned)
    mixes_s = time.perf_counter() - start
    highs = make_backend("highs")
    replica_prob, _ = build_fleet_program(pruned, bounds=bounds)
    replica_sol = highs.solve(replica_prob, raw_limit_s)
    gap = (
        "-"
        if replica_sol.bound is None or replica_sol.objective is None
        else f"{abs(replica_sol.objective - replica_sol.bound) / replica_sol.objective:.3%}"
    )
    replica = f"replica program {replica_sol.solve_s:.1f} s ({replica_sol.status}, gap {gap})"
    if mixed is None:  # candidates spanning two pools (mixed pairings): no mix form
        return (
            f"{len(pruned.candidates)} candidates: pruning and covers {prep_s:.2f} s, mix form "
            f"not applicable (candidates span two pools); {replica}"
        )
    mixes, scarce = mixed
    start = time.perf_counter()
    mix_prob, _ = build_mix_program(pruned, mixes, scarce)
    mixes_s += time.perf_counter() - start
    mix_sol = highs.solve(mix_prob, 600)
    return (
        f"{len(pruned.candidates)} candidates, scarce {'+'.join(scarce) or 'none'}: pruning and "
        f"covers {prep_s:.2f} s, mixes {mixes_s:.2f} s ({sum(map(len, mixes))}), mix program "
        f"{mix_sol.solve_s:.2f} s ({mix_sol.status}); {replica}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000", help="fleet sizes (workloads)")
    parser.add_argument("--workers", default="1,2", help="worker counts for the frontiers")
    parser.add_argument("--classes", type=int, default=4, help=f"workload classes (<= {len(MENU)})")
    parser.add_argument("--raw-limit", type=float, default=60.0, help="replica-form limit (s)")
    parser.add_argument("--scarce-h200", type=int, default=None, help="h200 GPUs per workload")
    parser.add_argument(
        "--mixed-pools",
        default="false",
        choices=("true", "false"),
        help="AFD pools on different hardware (true, the fleet files' default: 16 AFD pairings "
        "instead of 4) or on one (false, this benchmark's default)",
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    workers = [int(w) for w in args.workers.split(",")]
    print(
        "workloads  workers  classes  frontier pts  candidates  kept  method        "
        "frontiers s  fleet s  end-to-end s  status"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"fleet{n}.toml"
            path.write_text(
                fleet_toml(
                    n,
                    args.classes,
                    h200_per_workload=args.scarce_h200,
                    mixed_pools=args.mixed_pools == "true",
                )
            )
            for w in workers:
                start = time.perf_counter()
                result = size(path, workers=w, progress=False)
                total = time.perf_counter() - start
                s = result.stats
                print(
                    f"{n:>9}  {w:>7}  {s['classes']:>7}  {s['frontier_points']:>12}  "
                    f"{s['candidates']:>10}  {s.get('kept', 0):>4}  {s.get('method', '-'):<12}  "
                    f"{s['frontiers_s']:>11.1f}  {s['fleet_s']:>7.2f}  {total:>12.1f}  "
                    f"{result.status}"
                )
            print(f"{'':>9}  fleet program on HiGHS: {program_times(path, args.raw_limit)}")


if __name__ == "__main__":
    main()
