"""Subcommands `solve`, `evaluate` and `validate`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from formulations.types import Hardware, Instance
from solver import exit_codes, report
from solver.cli import options
from solver.errors import InputError
from solver.io.loader import (
    file_kind,
    parse_assignments,
    read_toml,
    validate_hardware_file,
    validate_model_file,
)

# ---- subcommands -------------------------------------------------------------------------


def cmd_solve(args: argparse.Namespace) -> int:
    from solver.api import as_instance, solve

    archs = options.archs(args.arch)
    time_limit_s = options.time_limit(args.time_limit)
    workers = options.workers(args.workers)
    options.scheduler(args.scheduler)
    if args.uncertainty is not None:
        return _solve_uncertainty(args, archs, time_limit_s, workers)
    for flag, given in (("--seed", args.seed is not None), ("--resume", args.resume)):
        if given:
            raise InputError([f"{flag}: goes with --uncertainty N"])
    launch_dir = _launch_out(args)
    report_path = _report_out(args)
    alone = report_path is None and args.export is None
    if launch_dir is None and (args.out is not None or (args.force and alone)):
        raise InputError(
            ["--out/--force: go with --uncertainty N, --launch ENGINE, --report or --export "
             "(use --export DIR for programs)"]
        )  # fmt: skip
    if len(args.files) > 1:
        return _solve_many(args, archs, time_limit_s, workers)
    inst = as_instance(args.files[0], parse_assignments(args.set))
    if args.export is not None:  # before any solving: a bad or occupied directory costs nothing
        from solver.api import check_export, export_stem

        check_export(args.export, [export_stem(inst)], args.force)
    status = _LevelStatus() if sys.stderr.isatty() else None
    try:
        df = solve(
            inst,
            architectures=archs,
            backend=args.backend,
            time_limit_s=time_limit_s,
            shadow_prices=args.shadow_prices or report_path is not None,
            breakdown=args.breakdown or report_path is not None,
            export=args.export,
            force=args.force,
            progress=None if status is None else status.at,
        )
    finally:
        if status is not None:
            status.close()
    if report_path is not None:
        _write_report(args, inst, df, archs, report_path)
    print(report.render(_asked(df, args), args.format, inst.search.objective))
    code = exit_codes.solve_exit_code(report.records(df))
    if launch_dir is not None and code == exit_codes.OK:
        _launch_best(args, inst, df, launch_dir)
    return code


def _report_out(args: argparse.Namespace) -> Path | None:
    """`solve --report FILE.html`: the checked report path (before any work)."""
    if args.report is None:
        if args.report_tpot is not None:
            raise InputError(["--report-tpot: goes with --report FILE.html"])
        return None
    if len(args.files) > 1:
        raise InputError(["--report: give one instance file"])
    if args.uncertainty is not None and args.report_tpot is not None:
        raise InputError(["--report-tpot: not with --uncertainty (its report has no frontier)"])
    return options.report_path(args.report, args.force)


def _asked(df: object, args: argparse.Namespace) -> object:
    """The columns the user asked for (the report computes breakdown and prices anyway)."""
    from solver.api import BREAKDOWN_PREFIX
    from solver.shadow import SHADOW_COLUMNS

    cols = list(df.columns)  # type: ignore[attr-defined]
    if not args.breakdown:
        cols = [c for c in cols if not c.startswith(BREAKDOWN_PREFIX)]
    if not args.shadow_prices:
        cols = [c for c in cols if c not in SHADOW_COLUMNS]
    return df[cols]  # type: ignore[index]


def _write_report(
    args: argparse.Namespace, inst: Instance, df: object, archs: list[str] | None, path: Path
) -> None:
    """The HTML report of this solve, with the frontier over --report-tpot."""
    from solver import report_html
    from solver.facade import pareto

    front = pareto(inst, args.report_tpot, architectures=archs, backend=args.backend)
    text = report_html.page(inst, df, front, options.command_text(args))  # type: ignore[arg-type]
    options.write_report(path, text)


def _launch_out(args: argparse.Namespace) -> Path | None:
    """`solve --launch ENGINE --out DIR`: the checked output directory (before any work)."""
    from solver.io.outputs import check_out_dir
    from solver.launch import run

    if args.launch is None:
        return None
    run.engine_choice(args.launch, "--launch")
    if args.out is None:
        raise InputError(["--launch: give --out DIR for the launch files"])
    if len(args.files) > 1:
        raise InputError(["--launch: give one instance file"])
    return check_out_dir(args.out, "--out", run.output_files(args.launch), args.force)


def _launch_best(args: argparse.Namespace, inst: Instance, df: object, out: Path) -> None:
    """Write the launch files of the best row of `df` (the verdict's winner)."""
    from solver.launch import run

    rows = [r for r in report.records(df) if r["status"] in ("optimal", "feasible")]
    lower = inst.search.objective == "min_gpus"
    best = min(rows, key=lambda r: r["objective"] * (1 if lower else -1))
    branch, d = run.deployment_of_row(best, inst)
    h = run.handover(
        args.launch,
        branch,
        d,
        best,
        loads=_launch_loads(inst),
        command=options.command_text(args),
        workers=1,
    )
    written = run.write(h, out)
    for note in h.notes:
        print(f"launch: {note}", file=sys.stderr)
    print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)


def _launch_loads(inst: Instance) -> np.ndarray | None:
    from solver.imbalance import expert_loads

    return expert_loads(inst)


def _solve_uncertainty(
    args: argparse.Namespace,
    archs: list[str] | None,
    time_limit_s: float | None,
    workers: int | None,
) -> int:
    """`solve FILE --uncertainty N`: sample the hardware and say how sure the verdict is."""
    from solver.uncertainty import output
    from solver.uncertainty.run import uncertainty

    if len(args.files) > 1:
        raise InputError(["--uncertainty: give one instance file"])
    for flag, given in (
        ("--breakdown", args.breakdown),
        ("--export", args.export is not None),
        ("--shadow-prices", args.shadow_prices),
        ("--launch", args.launch is not None),
    ):
        if given:
            raise InputError([f"{flag}: not with --uncertainty (it reports distributions)"])
    report_path = _report_out(args)  # before any sampling
    result = uncertainty(
        args.files[0],
        args.uncertainty,
        0 if args.seed is None else args.seed,
        overrides=parse_assignments(args.set),
        architectures=archs,
        backend=args.backend,
        time_limit_s=time_limit_s,
        workers=workers,
        scheduler=args.scheduler,
        out=args.out,
        resume=args.resume,
        force=args.force,
    )
    if report_path is not None:
        from solver.api import as_instance
        from solver.report_pages.uncertainty import uncertainty_page

        inst = as_instance(args.files[0], parse_assignments(args.set))
        options.write_report(
            report_path, uncertainty_page(inst, result, options.command_text(args))
        )
    if args.format == "json":
        print(output.to_json(result))
    elif args.format == "csv":
        print(report.to_csv(pd_frame(result.sample_rows)).rstrip("\n"))
    else:
        print(output.text(result))
    if args.out is not None:
        print(f"wrote {args.out}: results.csv (samples), uncertainty.json, uncertainty.png",
              file=sys.stderr)  # fmt: skip
    return exit_codes.OK if result.robust is not None else exit_codes.NO_RESULT


def pd_frame(rows: list[dict]) -> object:
    import pandas as pd

    return pd.DataFrame(rows)


class _LevelStatus:
    """On a terminal: which architecture and TPOT level the own-pace chain is proving."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self.bar = tqdm(desc="solve", unit=" level", leave=False)

    def at(self, arch: str, level: int, tpot_s: float) -> None:
        self.bar.set_postfix(arch=arch, level=level, tpot=f"{tpot_s * 1e3:.2f} ms", refresh=False)
        self.bar.update(1)
        self.bar.refresh()  # levels can take milliseconds: show each one, not every 0.1 s

    def close(self) -> None:
        self.bar.close()


def _solve_many(
    args: argparse.Namespace,
    archs: list[str] | None,
    time_limit_s: float | None,
    workers: int | None,
) -> int:
    """Several instance files: one table with a leading `instance` column, one verdict each."""
    from solver.facade import solve_many

    if args.breakdown:
        raise InputError(["--breakdown: give one instance file (it explains one optimum)"])
    df = solve_many(
        args.files,
        workers=workers,
        scheduler=args.scheduler,
        overrides=parse_assignments(args.set),
        architectures=archs,
        backend=args.backend,
        time_limit_s=time_limit_s,
        shadow_prices=args.shadow_prices,
        export=args.export,
        force=args.force,
    )
    if args.format != "table":
        print(report.render(df, args.format, with_verdict=False))
    else:
        print(report.to_table(df))
        for name, rows in df.groupby("instance", sort=False):
            print(f"{name}: {report.verdict(rows)}")
    records = report.records(df)
    codes = [
        exit_codes.solve_exit_code([r for r in records if r["instance"] == name])
        for name in dict.fromkeys(r["instance"] for r in records)
    ]
    return max(codes, default=0)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from solver.api import as_instance, evaluate

    options.deployment_spec(args.deployment)
    inst = as_instance(args.file, parse_assignments(args.set))
    df = evaluate(inst, args.deployment, breakdown=args.breakdown)
    print(report.render(df, args.format, with_verdict=False))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from solver.api import as_instance

    path = Path(args.file)
    overrides = parse_assignments(args.set)
    kind = file_kind(read_toml(path), path)
    if kind == "fleet" and not overrides:
        print(validate_fleet(path))
        return 0
    if kind == "instance":
        inst = as_instance(path, overrides)
        print(
            f"ok: {path}: model {inst.model.name}, {hardware_text(inst)}, "
            f"architectures {', '.join(inst.search.architectures)}"
        )
        return 0
    if overrides:
        raise InputError([f"--set: applies to instance files; {path} is a {kind} file"])
    if kind == "hardware":
        hw = validate_hardware_file(path)
        print(f"ok: {path}: hardware {hw.name} (every profile and table checked)")
    else:
        model = validate_model_file(path)
        print(f"ok: {path}: model {model.name}")
    return 0


def validate_fleet(path: Path) -> str:
    """`validate` of a fleet file: every entry checked, one line of what it holds."""
    from solver.io.fleet import load_fleet

    fleet = load_fleet(path)
    periods = f", {fleet.periods} periods ({fleet.price_model} prices)" if fleet.periods > 1 else ""
    return (
        f"ok: {path}: fleet {fleet.name}: {len(fleet.workloads)} workloads "
        f"({', '.join(w.name for w in fleet.workloads)}), hardware "
        f"{', '.join(h.name for h in fleet.hardware)}{periods}"
    )


def hardware_text(inst: Instance) -> str:
    """The hardware an instance runs on, for `validate`: one platform, two pools, or the
    candidate pairings."""
    from formulations import pairings

    def named(hw: Hardware) -> str:
        return f"{hw.name} ({hw.profile} profile)"

    if inst.hardware_choices:
        afd = pairings.pairings(inst, "afd")
        ep = pairings.pairings(inst, "ep")
        return (
            f"hardware pairings (AFD) {', '.join(pairings.label(p) for p in afd)}; "
            f"EP on {', '.join(h.name for h, _ in ep)}"
        )
    if inst.ffn_hardware is not None:
        link = f", link {inst.link_gbps:g} GB/s" if inst.link_gbps is not None else ""
        return (
            f"attention hardware {named(inst.hardware)}, FFN hardware "
            f"{named(inst.ffn_hardware)}{link}"
        )
    return f"hardware {named(inst.hardware)}"


def register(sub: argparse._SubParsersAction) -> None:
    """Add solve, evaluate and validate to the subcommand parser."""
    p = sub.add_parser("solve", help="best AFD and EP deployments of an instance, side by side")
    options.add_debug(p)
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="instance (scenario) TOML files; several are solved in parallel into one table "
        "with a leading `instance` column",
    )
    for add in (
        options.add_arch,
        options.add_backend,
        options.add_format,
        options.add_set,
        options.add_time_limit,
        options.add_workers,
        options.add_scheduler,
        options.add_export,
    ):
        add(p)
    p.add_argument(
        "--shadow-prices",
        action="store_true",
        help="append shadow prices from the LP with integers fixed: tokens/s/GPU per "
        "GB/s of scale-out/scale-up, GB and TB/s of HBM, ms of TPOT target",
    )
    options.add_breakdown(p)
    p.add_argument(
        "--uncertainty",
        type=int,
        default=None,
        metavar="N",
        help="sample the hardware N times (a calibrated file's covariance, or the scenario's "
        "[uncertainty] ranges / --set uncertainty.FIELD=LOW:HIGH), solve each sample and report "
        "how often each architecture wins, quantiles of each optimum and of their ratio, the "
        "optimal shapes and the robust deployment (best worst case)",
    )
    p.add_argument(
        "--seed", type=int, default=None, metavar="S", help="seed of the samples (default 0)"
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="with --uncertainty: write the samples (results.csv, resumable), "
        "uncertainty.json and uncertainty.png into DIR; with --launch: the launch files",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="with --uncertainty --out DIR: continue an interrupted run, skipping stored samples",
    )
    p.add_argument(
        "--launch",
        default=None,
        metavar="ENGINE",
        help="with --out DIR: write the winner's launch files for sglang, vllm, trtllm or "
        "manifest (as `afd-solver launch` does)",
    )
    p.add_argument(
        "--report",
        default=None,
        metavar="FILE.html",
        help="write one self-contained HTML page: verdict, optima, breakdowns, the TPOT "
        "frontier, binding constraints and shadow prices, inputs, the command; with "
        "--uncertainty: the probability of winning, quantiles, the distributions, the optimal "
        "shapes, the robust deployment and the samples' sources",
    )
    p.add_argument(
        "--report-tpot",
        default=None,
        metavar="LO:HI",
        help="TPOT range of the report's frontier in ms (default: a fifth of the target to "
        "four times it)",
    )
    options.add_force(
        p,
        "an earlier --uncertainty run, launch files in --out DIR, --report, and programs an "
        "earlier --export wrote for the same instance",
    )
    p.set_defaults(handler=cmd_solve)

    p = sub.add_parser("evaluate", help="metrics of one fixed deployment (SLO not enforced)")
    options.add_debug(p)
    options.add_file(p)
    p.add_argument(
        "--deployment",
        required=True,
        metavar="SPEC",
        help="e.g. arch=afd,attention_nodes=4,ffn_nodes=2,sequences_per_gpu=256 "
        "or arch=ep,nodes=16,sequences_per_gpu=128 "
        "(optional: micro_batches, redundant_experts)",
    )
    options.add_format(p)
    options.add_set(p)
    options.add_breakdown(p)
    p.set_defaults(handler=cmd_evaluate)

    p = sub.add_parser(
        "validate", help="check an instance, fleet, model or hardware file and its references"
    )
    options.add_debug(p)
    options.add_file(p)
    options.add_set(p)
    p.set_defaults(handler=cmd_validate)
