"""Issue 14's sizing targets, end to end: time, status and gap of `size` on three fleets.

Usage: python benchmarks/bench_fleet_exact.py [--cases mixed,100,1000] [--workers 2]
       [--time-limit 600] [--mixed-pools-1000 false]

- `mixed`: instances/fleets/mixed.toml (three models on H800, H20, H200, mixed AFD pools;
  target under 30 s, proven optimal);
- `100`: 100 workloads of 4 classes on h800, h20, h200 and b200 with mixed pools
  (benchmarks/bench_fleet.py's synthetic fleet; target under 60 s);
- `1000`: 1,000 workloads on the same 4 hardware (target under 5 minutes), with AFD's pools
  on one hardware unless `--mixed-pools-1000 true`.

Each line: case, workloads, candidates, kept after pruning, method, candidate time, fleet
program time, end-to-end wall time, status and gap. Run outside the test suite; the same
script measured the numbers before and after issue 14 (README, "Fleet sizing").
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fleet import fleet_toml  # noqa: E402

from solver.sizing.size import size  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="mixed,100,1000", help="mixed, 100 and/or 1000")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--time-limit", type=float, default=600.0, help="per case (s)")
    parser.add_argument("--mixed-pools-1000", default="false", choices=("true", "false"))
    args = parser.parse_args(argv)
    print("case     workloads  candidates   kept  method        cand s  fleet s  total s  status")
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases.split(","):
            if case == "mixed":
                path = ROOT / "instances" / "fleets" / "mixed.toml"
            else:
                n = int(case)
                mixed = n < 1000 or args.mixed_pools_1000 == "true"
                path = Path(tmp) / f"fleet{n}.toml"
                path.write_text(fleet_toml(n, 4, mixed_pools=mixed))
            start = time.perf_counter()
            result = size(path, workers=args.workers, progress=False, time_limit_s=args.time_limit)
            total = time.perf_counter() - start
            s = result.stats
            gap = getattr(result, "gap", "n/a")
            print(
                f"{case:<7}  {len(result.fleet.workloads):>9}  {s.get('candidates', 0):>10}  "
                f"{s.get('kept', 0):>5}  {s.get('method', '-'):<12}  {s['frontiers_s']:>6.1f}  "
                f"{s.get('fleet_s', 0):>7.1f}  {total:>7.1f}  {result.status} (gap {gap}, "
                f"${result.cost_per_hour or 0:,.2f}/h)",
                flush=True,
            )


if __name__ == "__main__":
    main()
