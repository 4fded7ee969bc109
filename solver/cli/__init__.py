"""The `afd-solver` command line. Subcommands share option definitions (`solver.cli.options`);
each subcommand module has a `register(sub)` that this module calls, so nothing imports back up."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from solver.cli import analysis, placement, size, solve
from solver.errors import AfdSolverError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="afd-solver",
        description="Size Attention-FFN Disaggregation (AFD) and large-scale Expert Parallelism "
        "(EP) deployments of MoE models with integer programs.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for input errors too")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (solve, analysis, placement, size):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except AfdSolverError as exc:
        if args.debug:
            traceback.print_exc()
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly like other Unix tools.
        sys.stderr.close()
        return 0
