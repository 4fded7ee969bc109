"""A long fuzz campaign outside CI: the generator and rules of tests/fuzzing.py over many seeds.

    python benchmarks/fuzz_campaign.py [--cases 5000] [--seed 1] [--commands-share 0.2]

Prints the totals (files, command lines, exit codes, validate-ok, solve exits, failures) and
every failure with the mutations that caused it. Each seed runs in a fresh scratch directory.
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

from fuzzing import Fuzzer, Totals  # noqa: E402

PER_SEED = 250


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1, help="first seed")
    parser.add_argument("--commands-share", type=float, default=0.2)
    args = parser.parse_args()
    warnings.simplefilter("error")  # as in the test suite (pyproject: filterwarnings = error)
    total = Totals()
    start = time.perf_counter()
    seed, left = args.seed, args.cases
    while left > 0:
        n = min(PER_SEED, left)
        commands = round(n * args.commands_share)
        with tempfile.TemporaryDirectory() as scratch:
            part = Fuzzer(Path(scratch), seed).run(files=n - commands, commands=commands)
        total.cases += part.cases
        total.commands += part.commands
        total.validated_ok += part.validated_ok
        total.exit_codes.update(part.exit_codes)
        total.solved.update(part.solved)
        total.failures += [f"seed {seed}: {f}" for f in part.failures]
        print(f"seed {seed}: {part.summary()}", flush=True)
        seed, left = seed + 1, left - n
    total.seconds = time.perf_counter() - start
    print("\nTOTAL " + total.summary())
    kinds = Counter(f.split(": ", 2)[-1].split(" ")[0] for f in total.failures)
    print(f"failure kinds: {dict(kinds)}")
    for failure in total.failures:
        print("FAIL", failure)
    return 1 if total.failures else 0


if __name__ == "__main__":
    sys.exit(main())
