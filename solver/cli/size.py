"""Subcommand `size`: the cheapest fleet plan for a fleet file."""

from __future__ import annotations

import argparse
import sys

from formulations.types import PROGRAM_BACKENDS
from solver.cli import options
from solver.errors import InputError


def cmd_size(args: argparse.Namespace) -> int:
    from solver.sizing.output import render, write_outputs
    from solver.sizing.size import size

    if args.workers is not None and args.workers < 1:
        raise InputError([f"--workers {args.workers}: must be at least 1"])
    result = size(
        args.fleet,
        workers=args.workers,
        scheduler=args.scheduler,
        backend=args.backend,
        time_limit_s=args.time_limit,
        progress=None,
    )
    print(render(result, args.format))
    if args.out:
        paths = write_outputs(result, args.out, force=args.force)
        print(f"wrote {', '.join(str(p) for p in paths)}", file=sys.stderr)
    if args.export and result.program is not None:
        from solver.backends.export import stem, write_program

        paths = write_program(result.program, args.export, stem(result.fleet.name, "fleet"))
        print(f"wrote {', '.join(str(p) for p in paths)}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `size` to the subcommand parser."""
    p = sub.add_parser(
        "size",
        help="cheapest mix of deployments and replicas that serves every workload of a fleet",
        description="Size a fleet (instances/fleets/<name>.toml): frontiers of the best "
        "deployment per GPU count for every workload, hardware and architecture, then the "
        "fleet program that meets every demand at the least price per hour within every "
        "inventory, proven optimal.",
    )
    p.add_argument("fleet", help="fleet TOML file, e.g. instances/fleets/mixed.toml")
    options.add_workers(p)
    options.add_scheduler(p)
    options.add_format(p)
    p.add_argument(
        "--backend",
        choices=PROGRAM_BACKENDS,
        default="highs",
        help="backend of the fleet program (default: highs); the deployments use the "
        "fleet's search.backend",
    )
    p.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="S",
        help="time limit of each fleet program solve in seconds (default: the fleet's "
        "search.time_limit_s, else 60)",
    )
    p.add_argument(
        "--out", default=None, metavar="DIR", help="write plan.csv, hardware.csv and plan.png"
    )
    p.add_argument("--force", action="store_true", help="overwrite existing files in --out DIR")
    options.add_export(p)
    p.set_defaults(handler=cmd_size)
