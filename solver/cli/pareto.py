"""The `pareto` subcommand: the exact TPOT frontier, with a progress bar on a terminal."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from solver import report
from solver.cli import options
from solver.errors import InputError
from solver.io.loader import parse_assignments


def cmd_pareto(args: argparse.Namespace) -> int:
    from pathlib import Path

    from solver.analysis import pareto
    from solver.api import as_instance

    time_limit_s = options.time_limit(args.time_limit)
    archs = options.archs(args.arch)
    report_path = options.report_path(args.report, args.force)
    if args.out is not None:  # before solving: a bad or occupied directory costs nothing
        from solver.io.outputs import check_out_dir

        check_out_dir(args.out, "--out", pareto.OUT_FILES, args.force)
    elif args.force and report_path is None:
        raise InputError(["--force: goes with --out DIR or --report FILE.html"])
    inst = as_instance(args.file, parse_assignments(args.set))
    bar = _progress(args.tpot, inst)
    try:
        df = pareto.pareto(
            inst,
            args.tpot,
            tuple(archs or inst.search.architectures),
            args.backend,
            time_limit_s,
            progress=None if bar is None else bar.at,
        )
    finally:
        if bar is not None:
            bar.close()
    if report_path is not None:
        from solver import report_html

        text = report_html.pareto_page(inst, df, options.command_text(args))
        options.write_report(report_path, text)
    if args.out is not None:
        written = pareto.write(df, Path(args.out), inst.workload.tpot_ms, args.force)
        if args.format == "table":
            print("written: " + ", ".join(str(p) for p in written))
    if args.format == "table":
        counts = df.groupby("architecture").size().to_dict()
        print("frontier rows: " + ", ".join(f"{a.upper()} {n}" for a, n in sorted(counts.items())))
        shown = df[
            [
                "architecture",
                "tpot_ms",
                "tokens_per_s_per_user",
                "tokens_per_s_per_gpu",
                "gpus",
                "sequences_per_gpu",
                "binding",
            ]
        ]
        print(shown.to_string(index=False, float_format=lambda x: f"{x:,.1f}"))
        if df["architecture"].nunique() > 1:  # a verdict needs two architectures
            for t, arch in pareto.winner_changes(df):
                print(f"from {t:.2f} ms: {arch.upper()} is better")
    else:
        print(report.render(df, args.format, with_verdict=False))
    return 0


class _Bar:
    """A progress bar over the TPOT range (levels descend from HI to LO)."""

    def __init__(self, lo: float, hi: float) -> None:
        from tqdm import tqdm

        self.lo, self.hi = lo, hi
        self.bar = tqdm(total=round(hi - lo, 3), unit="ms", desc="pareto", leave=False)

    def at(self, arch: str, tpot_ms: float) -> None:
        done = round(min(self.hi - self.lo, max(0.0, self.hi - tpot_ms)), 3)
        self.bar.set_postfix(arch=arch, tpot=f"{tpot_ms:.2f}", refresh=False)
        self.bar.update(done - self.bar.n if done >= self.bar.n else 0)
        if done < self.bar.n:  # the next architecture starts at HI again
            self.bar.reset()

    def close(self) -> None:
        self.bar.close()


def _progress(text: str | None, inst: Any) -> _Bar | None:
    from solver.analysis.pareto import parse_range

    if not sys.stderr.isatty():
        return None
    lo, hi = parse_range(text, inst)
    return _Bar(lo, hi)


def register_pareto(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pareto",
        help="exact frontier of own-pace tokens/s per GPU against the TPOT target",
        description="For each architecture, every breakpoint of the best own-pace tokens/s per "
        "GPU as the TPOT target moves over LO:HI, found exactly (no sampling of targets): each "
        "row is the optimal deployment for targets from its TPOT up to the next row's. "
        "--out DIR writes pareto.csv and pareto.png.",
    )
    options.add_file(p)
    p.add_argument(
        "--tpot",
        default=None,
        metavar="LO:HI",
        help="TPOT range in ms (default: a fifth of the instance's target to four times it)",
    )
    for add in (options.add_arch, options.add_backend, options.add_format, options.add_set):
        add(p)
    options.add_time_limit(p)
    options.add_out_dir(p, "write pareto.csv and pareto.png")
    options.add_report(
        p, "who wins where, the frontier chart, every breakpoint, inputs, the command"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="overwrite pareto.csv and pareto.png in --out, and --report",
    )
    p.set_defaults(handler=cmd_pareto)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `pareto` subcommand to the subcommand parser."""
    register_pareto(sub)
