"""`afd-solver calibrate`: fit a hardware file to measurements (README "Calibration")."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from solver.cli import options
from solver.io.outputs import check_out_file


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        help="fit a hardware's efficiencies, fixed times and grouped-GEMM curve to measurements",
        description="Fit the hardware's efficiency factors, per-stage fixed times and grouped-GEMM "
        "curve to a CSV of kernel rows (grouped_gemm, attention, dispatch, combine) and "
        "deployment rows (scenario + deployment + measured tokens/s per GPU or TPOT) by bounded "
        "least squares on log(predicted / measured). Prints every parameter with its standard "
        "error, each row's residual and leave-one-out error, and writes a hardware TOML that "
        "validate, solve, pareto, sweep and size take as it is.",
    )
    p.add_argument("measurements", help="measurements CSV (columns: README 'Calibration')")
    p.add_argument(
        "--hardware", required=True, metavar="NAME", help="catalogue hardware name or TOML path"
    )
    p.add_argument(
        "--model",
        default=None,
        metavar="NAME",
        help="catalogue model name or TOML path (needed by attention rows)",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="FILE.toml",
        help="write the calibrated hardware file here (its name = the file's stem)",
    )
    options.add_force(p, "an existing --out file")
    p.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="report format (default: table)",
    )
    p.add_argument(
        "--curve",
        action="store_true",
        help="fit the grouped-GEMM curve (TFLOP/s at each token count of the grouped_gemm rows, "
        "at least three) instead of the constant FFN efficiency and the GEMM's fixed time",
    )
    p.add_argument(
        "--no-loo",
        action="store_true",
        help="skip the leave-one-out refits (one per row) and their prediction errors",
    )
    options.add_debug(p)
    p.set_defaults(handler=cmd_calibrate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from solver.calibration import output
    from solver.calibration.run import calibrate
    from solver.errors import InputError

    if args.out is not None:  # checked before the fit: a bad path costs nothing
        if not str(args.out).endswith(".toml"):
            raise InputError([f"--out {args.out}: a hardware file name ending in .toml"])
        check_out_file(args.out, "--out", args.force)
    c = calibrate(
        args.measurements,
        args.hardware,
        args.model,
        curve=args.curve,
        leave_one_out=not args.no_loo,
    )
    print(output.table(c) if args.format == "table" else output.to_json(c))
    if args.out is not None:
        source = (
            f"afd-solver calibrate {args.measurements} --hardware {args.hardware}"
            f"{' --model ' + args.model if args.model else ''}"
            f"{' --curve' if args.curve else ''} ({date.today().isoformat()})"
        )
        written = c.write(args.out, force=args.force, source=source)
        print(f"wrote {written}", file=sys.stderr)
    return 0
