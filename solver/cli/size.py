"""Subcommand `size`: the cheapest fleet plan for a fleet file."""

from __future__ import annotations

import argparse
import sys

from formulations.types import PROGRAM_BACKENDS
from solver.cli import options
from solver.errors import InputError


def cmd_size(args: argparse.Namespace) -> int:
    from solver.backends.export import SUFFIXES, stem
    from solver.io.outputs import check_out_dir
    from solver.report_pages import size as size_report
    from solver.sizing.output import FILES, render, write_outputs
    from solver.sizing.size import size

    workers = options.workers(args.workers)
    time_limit_s = options.time_limit(args.time_limit)
    options.scheduler(args.scheduler)
    program = None
    # Output paths before any solving: a bad or occupied directory costs nothing.
    if args.out is not None:
        check_out_dir(args.out, "--out", FILES, args.force)
    if args.export is not None:
        program = f"{stem(fleet_name(args.fleet), 'fleet')}"
        check_out_dir(args.export, "--export", [f"{program}{s}" for s in SUFFIXES], args.force)
    if args.force and args.out is None and args.export is None and args.report is None:
        raise InputError(["--force: goes with --out DIR, --export DIR or --report FILE.html"])
    report_path = options.report_path(args.report, args.force)
    result = size(
        args.fleet,
        workers=workers,
        scheduler=args.scheduler,
        backend=args.backend,
        time_limit_s=time_limit_s,
        progress=None,
    )
    print(render(result, args.format))
    size_report.write(report_path, result, options.command_text(args))
    if args.out is not None:
        paths = write_outputs(result, args.out, force=args.force)
        print(f"wrote {', '.join(str(p) for p in paths)}", file=sys.stderr)
    if args.export is not None and result.program is not None:
        from solver.backends.export import write_program

        paths = write_program(result.program, args.export, stem(result.fleet.name, "fleet"))
        print(f"wrote {', '.join(str(p) for p in paths)}", file=sys.stderr)
    return 0


def fleet_name(path: str) -> str:
    """The fleet's `name` (what its exported program is named after), or the file's stem
    when the file cannot say (its own errors are reported when it is loaded)."""
    from pathlib import Path

    from solver.io.files import read_toml

    try:
        name = read_toml(path).get("name")
    except InputError:
        name = None
    return name if isinstance(name, str) else Path(path).stem


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
    options.add_time_limit(
        p,
        "wall-time limit of the whole command in seconds: the frontier solves (each also within "
        "the fleet's search.time_limit_s) and the fleet programs share it",
        "one hour",
    )
    options.add_out_dir(p, "write plan.csv, hardware.csv and plan.png")
    options.add_force(
        p, "plan.csv, hardware.csv, plan.png in --out, programs in --export, --report"
    )
    options.add_export(p)
    options.add_report(p, "verdict, plan, hardware use, shortages, shadow prices, charts, inputs")
    p.set_defaults(handler=cmd_size)
