"""Benchmark: solve time of each backend versus exhaustive enumeration as the search space grows.

Not part of the test run. Prints, for the shipped scenarios, the default backend's time with the
own-pace objective next to the objective counted at the target (and their ratio); then, per
search space (node limit, unit size, replicas on/off), the number of candidate deployments, each
backend's solve time and status, the levels the own-pace scheme solved, and the ratio of
enumeration's time to the default backend's (both measured in this process); then the exact
TPOT frontier of the standard instance (breakpoints and time).

    python benchmarks/bench_solve.py                       # the full grid (minutes)
    python benchmarks/bench_solve.py --limits 16,64 --units 8 --replicas off
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from formulations.types import IntRange
from solver import enumerate as brute
from solver.io.loader import load_instance
from solver.optimize import optimize

ROOT = Path(__file__).resolve().parents[1]


def _space(inst, limit: int, unit: int, replicas: bool):
    s = dataclasses.replace(
        inst.search,
        unit_gpus=unit,
        attention_nodes=IntRange(1, limit),
        ffn_nodes=IntRange(1, limit),
        nodes=IntRange(1, limit),
        redundant_experts=IntRange(0, 32 if replicas else 0),
    )
    return inst.replace(search=s)


def _run(
    inst, arch: str, backend: str, time_limit_s: float
) -> tuple[float, str, float | None, int]:
    inst = inst.replace(search=dataclasses.replace(inst.search, time_limit_s=time_limit_s))
    start = time.perf_counter()
    out = optimize(inst, arch, backend)
    return time.perf_counter() - start, str(out.status), out.objective, out.levels


def shipped(time_limit_s: float) -> None:
    print("shipped scenarios, default backend (highs): own pace vs at the target (seconds)")
    print(
        f"{'scenario':28s} {'arch':4s} {'own s':>7s} {'levels':>6s} {'target s':>8s} "
        f"{'ratio':>6s} {'own tok/s/GPU':>13s} {'target tok/s/GPU':>16s}"
    )
    for path in sorted((ROOT / "instances").glob("*.toml")):
        own = load_instance(path)
        target = load_instance(path, {"search.objective": "tokens_per_gpu_at_target"})
        for arch in ("afd", "ep"):
            t_own, s_own, v_own, levels = _run(own, arch, "highs", time_limit_s)
            t_tgt, s_tgt, v_tgt, _ = _run(target, arch, "highs", time_limit_s)
            print(
                f"{path.stem:28s} {arch:4s} {t_own:7.3f} {levels:6d} {t_tgt:8.3f} "
                f"{t_own / t_tgt:6.1f} {v_own or 0:13,.0f} {v_tgt or 0:16,.0f}"
                + ("" if s_own == s_tgt == "optimal" else f"  ({s_own}, {s_tgt})")
            )
    print()


def frontier(time_limit_s: float) -> None:
    from solver.analysis.pareto import pareto

    inst = load_instance(ROOT / "instances" / "deepseek-v3-h800.toml")
    start = time.perf_counter()
    df = pareto(inst, (10.0, 200.0), time_limit_s=time_limit_s)
    elapsed = time.perf_counter() - start
    counts = df.groupby("architecture").size().to_dict()
    print(
        f"pareto deepseek-v3-h800 10-200 ms: {len(df)} breakpoints "
        f"({', '.join(f'{a} {n}' for a, n in sorted(counts.items()))}) in {elapsed:.2f} s"
    )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", default=str(ROOT / "instances" / "deepseek-v3-h800.toml"))
    parser.add_argument("--limits", default="16,64,256,1024", help="node limits to try")
    parser.add_argument("--units", default="8,1", help="unit sizes (GPUs) to try")
    parser.add_argument(
        "--replicas", default="off,on", help="redundant experts 0 (off) or 0..32 (on)"
    )
    parser.add_argument("--backends", default="highs,cbc,cpsat,enumerate")
    parser.add_argument("--arch", default="afd,ep")
    parser.add_argument("--time-limit", type=float, default=120.0, help="per solve (s)")
    parser.add_argument(
        "--max-enumerate",
        type=float,
        default=3e9,
        help="skip enumeration above this many candidates",
    )
    args = parser.parse_args()
    shipped(args.time_limit)
    frontier(args.time_limit)
    base = load_instance(args.instance)
    backends = args.backends.split(",")
    header = f"{'arch':4s} {'limit':>5s} {'g':>2s} {'R':>3s} {'candidates':>10s}"
    for b in backends:
        header += f" {b + ' s':>12s}"
    header += f" {'enum/highs':>10s}"
    print(header)
    for arch in args.arch.split(","):
        for replicas in (r == "on" for r in args.replicas.split(",")):
            for unit in (int(u) for u in args.units.split(",")):
                for limit in (int(x) for x in args.limits.split(",")):
                    inst = _space(base, limit, unit, replicas)
                    count = brute.candidates(inst.search, arch)
                    flag = "on" if replicas else "off"
                    row = f"{arch:4s} {limit:5d} {unit:2d} {flag:>3s} {count:10.2e}"
                    times: dict[str, float] = {}
                    values = set()
                    for b in backends:
                        if b == "enumerate" and count > args.max_enumerate:
                            row += f" {'skipped':>12s}"
                            continue
                        elapsed, status, value, levels = _run(inst, arch, b, args.time_limit)
                        times[b] = elapsed
                        mark = "" if status == "optimal" else f"({status[:4]})"
                        row += f" {elapsed:7.3f}{mark:>5s}"
                        if b == "highs":
                            row += f" {levels:3d}L"
                        if status == "optimal" and value is not None:
                            values.add(round(value, 6))
                    ratio = times.get("enumerate", float("nan")) / times.get("highs", float("nan"))
                    row += f" {ratio:10.1f}"
                    if len(values) > 1:
                        row += "  MISMATCH " + str(sorted(values))
                    print(row, flush=True)


if __name__ == "__main__":
    main()
