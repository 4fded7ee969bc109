"""How well the cost model predicts public measured decode deployments (issue 13).

    python benchmarks/fidelity.py [instances/measurements/public-decode.csv]

For every row of the table (a scenario, a deployment and its measured tokens/s per GPU and/or
TPOT; sources and assumptions in the file's own columns) it prints the prediction of the
catalogue hardware (sustained profile) and, after leave-one-out calibration, the prediction of
the hardware fitted to the *other* rows on the same hardware (`afd-solver calibrate` on them;
a hardware with a single row keeps its catalogue values). Ratios are predicted / measured of
tokens/s per GPU; the summary gives their geometric mean and the geometric mean of the error
factor max(r, 1/r).
"""

from __future__ import annotations

import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from solver.calibration import parameters  # noqa: E402
from solver.calibration.fit import fit  # noqa: E402
from solver.calibration.measurements import read_measurements  # noqa: E402
from solver.calibration.problem import build  # noqa: E402
from solver.io.loader import load_instance  # noqa: E402
from solver.io.tables import validate_hardware_file  # noqa: E402

DEFAULT = ROOT / "instances" / "measurements" / "public-decode.csv"


def _case_names(path: Path) -> dict[int, str]:
    import csv

    with path.open(newline="") as fh:
        return {i + 2: r.get("case") or f"line {i + 2}" for i, r in enumerate(csv.DictReader(fh))}


def _throughput(problem, predicted: np.ndarray, row_index: int) -> float | None:
    for i, o in enumerate(problem.observations):
        if o.row == row_index and o.quantity == "tokens_per_s_per_gpu":
            return float(predicted[i])
    return None


def main(path: Path) -> None:
    rows = read_measurements(path)
    names = _case_names(path)
    by_hw: dict[str, list] = defaultdict(list)
    for row in rows:
        inst = load_instance(path.parent / row.texts["scenario"])
        by_hw[inst.hardware.name].append(row)
    table = []
    t0 = time.perf_counter()
    for hw_name, group in by_hw.items():
        base = validate_hardware_file(ROOT / "instances" / "hardware" / f"{hw_name}.toml")
        problem = build(group, base, None, path)
        catalogue = problem.predict(base)
        for k, row in enumerate(group):
            measured = row.values.get("tokens_per_s_per_gpu")
            if measured is None:
                continue
            others = [r for j, r in enumerate(group) if j != k]
            loo_hw = base
            if others:
                rest = build(others, base, None, path)
                loo_hw = fit(rest, base, parameters.catalogue(base), loo=False).hardware
            alone = build([row], base, None, path)
            loo = _throughput(alone, alone.predict(loo_hw), 0)
            cat = _throughput(problem, catalogue, k)
            table.append((names.get(row.line, str(row.line)), hw_name, row, measured, cat, loo))
    elapsed = time.perf_counter() - t0
    print(f"{'case':<31}{'hardware':<19}{'arch':<5}{'measured':>9}{'catalogue':>10}{'ratio':>7}"
          f"{'LOO cal.':>10}{'ratio':>7}")  # fmt: skip
    cat_r, loo_r = [], []
    for name, hw, row, measured, cat, loo in table:
        arch = "afd" if "arch=afd" in row.texts["deployment"] else "ep"
        rc, rl = cat / measured, loo / measured
        cat_r.append(rc)
        loo_r.append(rl)
        print(
            f"{name:<31}{hw:<19}{arch:<5}{measured:>9,.0f}{cat:>10,.0f}{rc:>7.2f}{loo:>10,.0f}{rl:>7.2f}"
        )

    def gmean(xs: list[float]) -> float:
        return math.exp(sum(math.log(x) for x in xs) / len(xs))

    def gerr(xs: list[float]) -> float:
        return math.exp(sum(abs(math.log(x)) for x in xs) / len(xs))

    print(
        f"{len(table)} cases on {len(by_hw)} hardware; predicted/measured geometric mean "
        f"{gmean(cat_r):.3f} (catalogue), {gmean(loo_r):.3f} (leave-one-out calibrated); "
        f"mean error factor {gerr(cat_r):.3f} and {gerr(loo_r):.3f}; {elapsed:.1f} s"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
