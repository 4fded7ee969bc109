"""A long fuzz campaign outside CI: the generator and rules of tests/fuzzing.py over many seeds.

    python benchmarks/fuzz_campaign.py [--runs 5000] [--seed 1]
        [--commands-share 0.2] [--outputs-share 0.12] [--api-share 0.15] [--fleets-share 0.05]

Runs mutated instance/model/hardware files (validate, then solve), command lines, output
paths (links, devices, empty and occupied paths, with and without --force), Python API calls
with one wrong argument, and fleet files (size). Prints the totals per seed and overall: runs
per kind, exit codes, and the count of every outcome (answered, refused, api refused,
traceback, hang, unclean error, insane answer, write outside, unsafe path accepted, api
accepted), then every failure with what caused it. Each seed runs in a fresh scratch directory
(the working directory during the run, so a stray write is seen). Exit code 1 if any failure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fuzz_shapes import Fuzzer  # noqa: E402
from fuzzing import Totals  # noqa: E402

PER_SEED = 250
FAILURE_OUTCOMES = (
    "traceback",
    "hang",
    "unclean error",
    "insane answer",
    "write outside",
    "unsafe path accepted",
    "api accepted",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", "--cases", type=int, default=5000, dest="runs")
    parser.add_argument("--seed", type=int, default=1, help="first seed")
    parser.add_argument("--commands-share", type=float, default=0.2)
    parser.add_argument("--outputs-share", type=float, default=0.12)
    parser.add_argument("--api-share", type=float, default=0.15)
    parser.add_argument("--fleets-share", type=float, default=0.05)
    args = parser.parse_args()
    warnings.simplefilter("error")  # as in the test suite (pyproject: filterwarnings = error)
    total = Totals()
    start = time.perf_counter()
    seed, left = args.seed, args.runs
    while left > 0:
        n = min(PER_SEED, left)
        shares = {
            "commands": round(n * args.commands_share),
            "outputs": round(n * args.outputs_share),
            "api": round(n * args.api_share),
            "fleets": round(n * args.fleets_share),
        }
        files = n - sum(shares.values())
        with tempfile.TemporaryDirectory() as scratch:
            part = Fuzzer(Path(scratch), seed).run(files=files, **shares)
        total.add(part)
        total.failures += [f"seed {seed}: {f}" for f in part.failures]
        print(f"seed {seed}: {part.summary()}", flush=True)
        seed, left = seed + 1, left - n
    total.seconds = time.perf_counter() - start
    print(f"\nTOTAL {total.runs} runs: {total.summary()}")
    print("outcomes:")
    for name, count in sorted(total.outcomes.items()):
        print(f"  {name:24s} {count:6d}")
    for name in FAILURE_OUTCOMES:
        if name not in total.outcomes:
            print(f"  {name:24s} {0:6d}")
    kinds = Counter(f.split(": ", 2)[-1].split(" ")[0] for f in total.failures)
    print(f"failure kinds: {dict(kinds)}")
    for failure in total.failures:
        print("FAIL", failure)
    return 1 if total.failures else 0


if __name__ == "__main__":
    sys.exit(main())
