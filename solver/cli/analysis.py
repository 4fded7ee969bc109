"""Analysis subcommands: `sweep`, `crossover`, `reproduce` (`pareto` is `solver.cli.pareto`).

Each `register_*` adds one subcommand; `register` adds them all (called by `solver.cli`).
Options come from `solver.cli.options` wherever the meaning is the same.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import pandas as pd

from solver import exit_codes, report
from solver.cli import options
from solver.errors import InputError
from solver.io import limits, numbers
from solver.io.loader import parse_assignments


def _set_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """`--set` plus the `--arch` / `--backend` shortcuts as dotted overrides."""
    over = parse_assignments(args.set)
    archs = options.archs(getattr(args, "arch", None))
    if archs is not None:
        over["search.architectures"] = archs
    if getattr(args, "backend", None):
        over["search.backend"] = args.backend
    return over


def _print_table(df: pd.DataFrame, fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(report.records(df), indent=2))
    else:
        print(report.to_csv(df).rstrip("\n"))


# ---- sweep ---------------------------------------------------------------------------------


def cmd_sweep(args: argparse.Namespace) -> int:
    from solver.analysis.engine import SweepInterrupted
    from solver.analysis.sweep import run_sweep

    options.workers(args.workers)
    options.scheduler(args.scheduler)
    report_path = options.report_path(args.report, args.force)  # before any solving
    try:
        result = run_sweep(
            args.file,
            args.vary,
            workers=args.workers,
            scheduler=args.scheduler,
            out_dir=args.out,
            resume=args.resume,
            one_at_a_time=args.one_at_a_time,
            progress=None,
            extra_overrides=_set_overrides(args),
            force=args.force,
        )
    except SweepInterrupted as exc:
        print(
            f"interrupted: {exc.n_stored} of {exc.n_total} points stored; rerun with --resume",
            file=sys.stderr,
        )
        return exit_codes.INTERRUPTED
    if report_path is not None:
        _sweep_report(args, result.table, report_path)
    if args.format != "table":
        _print_table(result.table, args.format)
    else:
        table = result.table
        infeasible = int((table["status"] == "infeasible").sum()) if "status" in table else 0
        print(
            f"sweep: {result.n_points} points, {len(table)} rows "
            f"({infeasible} infeasible), {result.n_failed} failed"
        )
        print(f"results: {result.out_dir / 'results.csv'}")
        if result.plots:
            print("plots: " + ", ".join(str(p) for p in result.plots))
    if result.failed_points:
        print(
            f"error: {result.failed_points} of {result.n_points} points failed "
            f"(first: {result.first_failure}); see {result.out_dir / 'results.csv'}",
            file=sys.stderr,
        )
    return exit_codes.sweep_exit_code(result.failed_points)


def _sweep_report(args: argparse.Namespace, table: pd.DataFrame, path: Any) -> None:
    from solver.analysis.sweep import parse_varies
    from solver.io.loader import load_instance
    from solver.report_pages.sweep import sweep_page

    inst = load_instance(args.file, _set_overrides(args))
    text = sweep_page(
        inst, table, parse_varies(args.vary), args.one_at_a_time, options.command_text(args)
    )
    options.write_report(path, text)


def register_sweep(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="solve an instance over a grid of parameter values (parallel, resumable)",
        description="Vary dotted instance fields and solve every point. Writes DIR/results.csv "
        "(one row per point and architecture, parameters first; an empty parameter cell "
        "means the instance's own value) and plots: DIR/<key>.png for one key or "
        "--one-at-a-time, DIR/phase_<k1>__<k2>.png and DIR/ratio_<k1>__<k2>.png for every "
        "pair of grid keys (with more than two keys, the others at their first value).",
    )
    options.add_debug(p)
    options.add_file(p)
    p.add_argument(
        "--vary",
        action="append",
        required=True,
        metavar="KEY=SPEC",
        help="a dotted instance field and its values: a list 25,50,100, a range "
        "START:STOP:STEP (20:200:10) or log:START:STOP:COUNT (log:10:1000:12); "
        "e.g. workload.tpot_ms=20:200:10 (repeatable: full grid)",
    )
    p.add_argument(
        "--one-at-a-time",
        action="store_true",
        help="vary each key alone around the instance's values instead of the full grid",
    )
    options.add_workers(p)
    options.add_scheduler(p)
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="output directory (default: sweep-<instance stem> in the current directory)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted sweep in DIR, skipping the points already stored "
        "(refused if DIR holds a sweep of other --vary, --set or instance)",
    )
    options.add_report(
        p,
        "the grid, the winner and tokens/s per GPU of each architecture at every point, a "
        "chart over the first varied key, inputs, the command",
    )
    options.add_force(p, "the results and plots of an earlier sweep in DIR, and --report")
    for add in (options.add_arch, options.add_backend, options.add_set):
        add(p)
    p.add_argument(
        "--format",
        choices=report.FORMATS,
        default="table",
        help="table: a short summary; csv or json: print the results table (default: table)",
    )
    p.set_defaults(handler=cmd_sweep)


# ---- crossover -----------------------------------------------------------------------------


def _interval(text: str) -> tuple[str, float, float]:
    key, sep, spec = text.partition("=")
    parts = spec.split(":")
    shown = text if len(text) <= 60 else f"{text[:55]}..."
    if not sep or len(parts) != 2:
        raise InputError([f"--vary {shown!r}: expected KEY=LO:HI, e.g. hardware.hbm_gb=40:80"])
    ends = [numbers.parse(p, "")[0] for p in parts]
    if None in ends:
        raise InputError([f"--vary {shown!r}: LO and HI must be finite numbers"])
    return key.strip(), float(ends[0]), float(ends[1])


def _crossover_options(lo: float, hi: float, tol: float | None, grid: int) -> None:
    """--grid and --tol within what a crossover can afford (each point is two solves)."""
    options.count(grid, "--grid", 2, limits.MAX_CROSSOVER_GRID)
    if tol is None:
        return
    if not (math.isfinite(tol) and tol > 0):
        raise InputError([f"--tol {tol:g}: must be a positive number"])
    if limits.bisection_steps(hi - lo, tol) > limits.MAX_BISECTION_STEPS:
        raise InputError(
            [
                f"--tol {tol:g}: needs more than {limits.MAX_BISECTION_STEPS} halvings of "
                f"[{lo:g}, {hi:g}]; use --tol >= {(hi - lo) / 2**limits.MAX_BISECTION_STEPS:.3g}"
            ]
        )


def cmd_crossover(args: argparse.Namespace) -> int:
    from solver.analysis import crossover

    key, lo, hi = _interval(args.vary)
    _crossover_options(lo, hi, args.tol, args.grid)
    if args.force and args.report is None:
        raise InputError(["--force: goes with --report FILE.html"])
    report_path = options.report_path(args.report, args.force)  # before any solving
    result = crossover.find_crossovers(
        args.file,
        key,
        lo,
        hi,
        tol=args.tol,
        grid_points=args.grid,
        overrides=_set_overrides(args),
    )
    if report_path is not None:
        from solver.io.loader import load_instance
        from solver.report_pages.crossover import crossover_page

        inst = load_instance(args.file, _set_overrides(args))
        options.write_report(report_path, crossover_page(inst, result, options.command_text(args)))
    if args.format == "json":
        print(json.dumps(result.as_dict(), indent=2))
    elif args.format == "csv":
        frame = pd.DataFrame(crossover.csv_rows(result), columns=list(crossover.CSV_COLUMNS))
        print(report.to_csv(frame).rstrip("\n"))
    else:
        print(crossover.describe(result))
    return 0


def register_crossover(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "crossover",
        help="where AFD and EP tie along one parameter (grid, then bisection)",
        description="Evaluate the AFD-minus-EP objective on a coarse grid of KEY over [LO, HI] "
        "(an infeasible side counts as minus infinity; for min_gpus fewer GPUs win), bisect "
        "every change of winner down to --tol, and report each bracket, or the architecture "
        "that wins everywhere with its smallest and largest advantage.",
    )
    options.add_debug(p)
    options.add_file(p)
    p.add_argument(
        "--vary",
        required=True,
        metavar="KEY=LO:HI",
        help="the dotted numeric field and its interval, e.g. hardware.hbm_gb=40:80",
    )
    p.add_argument(
        "--tol",
        type=float,
        default=None,
        metavar="T",
        help="stop bisecting below this bracket width (default: (HI-LO)/1000; "
        "integer fields stop at adjacent integers)",
    )
    p.add_argument(
        "--grid",
        type=int,
        default=9,
        metavar="N",
        help="coarse grid points before bisecting (default: 9); more finds close pairs "
        "of crossings",
    )
    for add in (options.add_set, options.add_backend, options.add_format):
        add(p)
    options.add_report(
        p,
        "the bracket of every change of winner, each architecture's optimum over the range "
        "with the crossovers marked, every evaluated value, inputs, the command",
    )
    options.add_force(p, "--report")
    p.set_defaults(handler=cmd_crossover)


# ---- reproduce -----------------------------------------------------------------------------


def cmd_reproduce(args: argparse.Namespace) -> int:
    from solver.analysis import reproduce

    only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    written = reproduce.reproduce(args.out, only, force=args.force)
    if args.format == "json":
        print(json.dumps({k: [str(p) for p in v] for k, v in written.items()}, indent=2))
    elif args.format == "csv":
        rows = [{"step": k, "file": str(p)} for k, v in written.items() for p in v]
        print(report.to_csv(pd.DataFrame(rows, columns=["step", "file"])).rstrip("\n"))
    else:
        for name, paths in written.items():
            print(f"{name}: {', '.join(str(p) for p in paths)}")
    return 0


def register_reproduce(sub: argparse._SubParsersAction) -> None:
    from solver.analysis.reproduce import DEFAULT_OUT_DIR, STEPS

    p = sub.add_parser(
        "reproduce",
        help="regenerate the analysis' results (CSV + plots) from the shipped instances",
        description="Steps: " + "; ".join(f"{s.name}: {s.help}" for s in STEPS) + ".",
    )
    options.add_debug(p)
    p.add_argument(
        "--out",
        default=DEFAULT_OUT_DIR,
        metavar="DIR",
        help=f"output directory (default: {DEFAULT_OUT_DIR}/)",
    )
    p.add_argument(
        "--only",
        default=None,
        metavar="STEP,...",
        help="run only these steps: " + ", ".join(s.name for s in STEPS),
    )
    options.add_force(p, "existing result files in DIR")
    p.add_argument(
        "--format",
        choices=report.FORMATS,
        default="table",
        help="how to list the files written (default: table)",
    )
    p.set_defaults(handler=cmd_reproduce)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's subcommands to the subcommand parser."""
    register_sweep(sub)
    register_crossover(sub)
    register_reproduce(sub)
