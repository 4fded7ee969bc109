"""Benchmark: solve time of each architecture on every shipped scenario (issue 15).

Not part of the test run. For every shipped scenario, every architecture is optimised with the
default backend (HiGHS) over the scenario's own search ranges (TP included even where the
scenario lists only AFD and EP), and the script prints each optimum (units per pool, unit size,
sequences per GPU, TPOT), its tokens/s per GPU, the solve time, and the time of the two
architectures of before TP next to all three (ratio in this process). `--repeat` solves each
several times and keeps the fastest, which is the least disturbed by other jobs on the machine.

    python benchmarks/bench_architectures.py
    python benchmarks/bench_architectures.py --repeat 3 --scenario deepseek-v3-h800
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from formulations import pairings
from formulations.types import ARCHITECTURES
from solver.io.loader import load_instance
from solver.optimize import Outcome, optimize

ROOT = Path(__file__).resolve().parents[1]
BEFORE_TP = ("afd", "ep")
ALL_THREE = {"search.architectures": list(ARCHITECTURES)}


def _fastest(path: Path, arch: str, repeat: int) -> tuple[float, Outcome]:
    best_s, out = float("inf"), None
    for _ in range(repeat):
        inst = load_instance(path, ALL_THREE)
        start = time.perf_counter()
        out = optimize(inst, arch)
        best_s = min(best_s, time.perf_counter() - start)
    assert out is not None
    return best_s, out


def _deployment(out: Outcome, tpot_ms: float | None, unit_gpus: int) -> str:
    d = out.deployment
    if d is None:
        return str(out.status)
    units = "+".join(f"{pool} {n}" for pool, n in d.nodes)
    at = f" @ {tpot_ms:.1f} ms" if tpot_ms is not None else ""
    where = f" on {pairings.label(out.pairing)}" if out.pairing is not None else ""
    return f"{units} x{unit_gpus} GPU, n={d.sequences_per_gpu}{at}{where}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1, help="solves per point (fastest kept)")
    ap.add_argument("--scenario", action="append", help="only these scenario stems")
    args = ap.parse_args(argv)
    paths = sorted((ROOT / "instances").glob("*.toml"))
    if args.scenario:
        paths = [p for p in paths if p.stem in args.scenario]
    from solver.api import evaluate  # the optimum's TPOT, as the tables print it

    print(f"{'scenario':32s} {'arch':4s} {'solve s':>8s} {'tok/s/GPU':>10s}  optimum")
    total = dict.fromkeys(ARCHITECTURES, 0.0)
    for path in paths:
        seconds: dict[str, float] = {}
        for arch in ARCHITECTURES:
            seconds[arch], out = _fastest(path, arch, args.repeat)
            total[arch] += seconds[arch]
            tpot, unit = None, 0
            if out.deployment is not None:
                inst = load_instance(path, ALL_THREE)
                if out.pairing is not None:  # the hardware the optimum chose
                    inst = pairings.on(inst, *out.pairing)
                tpot = float(evaluate(inst, out.deployment)["tpot_ms"].iloc[0])
                unit = out.deployment.unit_gpus or inst.search.unit_gpus
            value = f"{out.objective:10,.0f}" if out.objective is not None else f"{'-':>10s}"
            print(
                f"{path.stem:32s} {arch:4s} {seconds[arch]:8.3f} {value}  "
                f"{_deployment(out, tpot, unit)}"
            )
        two = sum(seconds[a] for a in BEFORE_TP)
        three = sum(seconds.values())
        print(f"{'':32s} afd+ep {two:.3f} s, all three {three:.3f} s ({three / two:.2f}x)")
    two = sum(total[a] for a in BEFORE_TP)
    three = sum(total.values())
    print(
        "all scenarios: "
        + ", ".join(f"{a} {total[a]:.2f} s" for a in ARCHITECTURES)
        + f"; afd+ep {two:.2f} s, all three {three:.2f} s ({three / two:.2f}x)"
    )


if __name__ == "__main__":
    main()
