"""The `afd-solver` command line. Subcommands share option definitions (`solver.cli.options`);
each subcommand module has a `register(sub)` that this module calls, so nothing imports back up.

Exit codes (`solver.exit_codes`): 0 the command produced what was asked, 1 no architecture
produced a deployment or a sweep had failed points, 2 bad input, output or resource request
(one `error:` line per problem, the traceback only with `--debug`), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from solver import exit_codes
from solver.cli import analysis, calibrate, launch, pareto, placement, size, solve
from solver.errors import AfdSolverError


def version() -> str:
    """The installed distribution's version (or 'unknown' when run from an uninstalled tree)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("afd-solver")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="afd-solver",
        description="Size Attention-FFN Disaggregation (AFD) and large-scale Expert Parallelism "
        "(EP) deployments of MoE models with integer programs.",
        epilog="Exit codes: 0 done, 1 no deployment found or failed sweep points, 2 bad input, "
        "130 interrupted.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for input errors too")
    parser.add_argument("--version", action="version", version=f"afd-solver {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (solve, analysis, pareto, placement, size, calibrate, launch):
        module.register(sub)
    return parser


def _fail(lines: list[str], debug: bool) -> int:
    if debug:
        traceback.print_exc()
    for line in lines:
        print(f"error: {line}", file=sys.stderr)
    return exit_codes.BAD_INPUT


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # The command as typed, for outputs that say what produced them (reports, manifests).
    args.argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    debug = bool(getattr(args, "debug", False))
    try:
        return int(args.handler(args))
    except AfdSolverError as exc:
        if debug:
            traceback.print_exc()
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return exit_codes.INTERRUPTED
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly like other Unix tools.
        sys.stderr.close()
        return exit_codes.OK
    except OSError as exc:
        # The environment, not the input files: a full disk, a vanished directory, ...
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail([f"{where}{exc.strerror or exc}"], debug)
    except MemoryError:
        return _fail(["out of memory; narrow the search ranges or the loads"], debug)
