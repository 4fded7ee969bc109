"""The `afd-solver` command line. Subcommands share option definitions; every option has help."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from formulations.types import ARCHITECTURES, BACKENDS, Hardware, Model
from solver import report
from solver.errors import AfdSolverError, InputError
from solver.loader import parse_assignments, read_toml

Handler = Callable[[argparse.Namespace], int]


# ---- shared options ----------------------------------------------------------------------


def add_file(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "file", help="instance (scenario) TOML file, e.g. instances/deepseek-v3-h800.toml"
    )


def add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format", choices=report.FORMATS, default="table", help="output format (default: table)"
    )


def add_set(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        dest="set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override an instance field, e.g. --set workload.tpot_ms=30 "
        "--set search.ffn_nodes=8 --set hardware.scaleout_gbps=100 (repeatable)",
    )


def add_backend(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="solver backend (default: the instance's search.backend, else highs)",
    )


def add_arch(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--arch",
        default=None,
        metavar="afd,ep",
        help="architectures to solve, comma separated (default: the instance's)",
    )


def add_time_limit(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="S",
        help="time limit per architecture in seconds (default: the instance's)",
    )


def _archs(text: str | None) -> list[str] | None:
    if text is None:
        return None
    archs = [a.strip().lower() for a in text.split(",") if a.strip()]
    bad = [a for a in archs if a not in ARCHITECTURES]
    if bad or not archs:
        raise InputError([f"--arch {text!r}: choose from {', '.join(ARCHITECTURES)}"])
    return archs


# ---- subcommands -------------------------------------------------------------------------


def cmd_solve(args: argparse.Namespace) -> int:
    from solver.api import as_instance, solve

    inst = as_instance(args.file, parse_assignments(args.set))
    df = solve(
        inst,
        architectures=_archs(args.arch),
        backend=args.backend,
        time_limit_s=args.time_limit,
        shadow_prices=args.shadow_prices,
    )
    print(report.render(df, args.format, inst.search.objective))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from solver.api import as_instance, evaluate

    inst = as_instance(args.file, parse_assignments(args.set))
    df = evaluate(inst, args.deployment)
    print(report.render(df, args.format, with_verdict=False))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from solver.api import as_instance
    from solver.schema import build

    path = Path(args.file)
    raw = read_toml(path)
    if "workload" in raw or "search" in raw or isinstance(raw.get("model"), (str, dict)):
        inst = as_instance(path, parse_assignments(args.set))
        print(
            f"ok: {path}: model {inst.model.name}, hardware {inst.hardware.name} "
            f"({inst.hardware.profile} profile), "
            f"architectures {', '.join(inst.search.architectures)}"
        )
        return 0
    problems: list[str] = []
    kind = Hardware if path.parent.name == "hardware" or "hbm_gb" in raw else Model
    raw.setdefault("name", path.stem)
    if kind is Hardware:
        for key in ("efficiency", "paper", "gemm_calibration"):
            raw.pop(key, None)
    build(kind, raw, str(path), "", problems)
    if problems:
        raise InputError(problems)
    print(f"ok: {path}: {kind.__name__.lower()} {raw['name']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="afd-solver",
        description="Size Attention-FFN Disaggregation (AFD) and large-scale Expert Parallelism "
        "(EP) deployments of MoE models with integer programs.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for input errors too")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("solve", help="best AFD and EP deployments of an instance, side by side")
    for add in (add_file, add_arch, add_backend, add_format, add_set, add_time_limit):
        add(p)
    p.add_argument(
        "--shadow-prices",
        action="store_true",
        help="append shadow prices from the LP with integers fixed: tokens/s/GPU per "
        "GB/s of scale-out/scale-up, GB and TB/s of HBM, ms of TPOT target",
    )
    p.set_defaults(handler=cmd_solve)

    p = sub.add_parser("evaluate", help="metrics of one fixed deployment (SLO not enforced)")
    add_file(p)
    p.add_argument(
        "--deployment",
        required=True,
        metavar="SPEC",
        help="e.g. arch=afd,attention_nodes=4,ffn_nodes=2,sequences_per_gpu=256 "
        "or arch=ep,nodes=16,sequences_per_gpu=128 "
        "(optional: micro_batches, redundant_experts)",
    )
    add_format(p)
    add_set(p)
    p.set_defaults(handler=cmd_evaluate)

    p = sub.add_parser(
        "validate", help="check an instance, model or hardware file and its references"
    )
    add_file(p)
    add_set(p)
    p.set_defaults(handler=cmd_validate)

    import solver.cli_analysis  # noqa: F401  (registers sweep, crossover, reproduce)
    import solver.cli_placement  # noqa: F401  (registers place, imbalance)
    for register in _EXTENSIONS:
        register(sub)
    return parser


# Subcommands defined in other modules register themselves here (keeps this module small).
_EXTENSIONS: list[Callable[[argparse._SubParsersAction], None]] = []


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


if __name__ == "__main__":
    # Run the canonical module, where the extension subcommands register themselves.
    from solver import cli as _cli

    sys.exit(_cli.main())
