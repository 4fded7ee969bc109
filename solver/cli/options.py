"""Option definitions shared by every subcommand (one place, so help text and defaults agree)."""

from __future__ import annotations

import argparse
from pathlib import Path

from formulations.types import ARCHITECTURES, BACKENDS
from solver import report
from solver.errors import InputError
from solver.io import arguments, checks, limits

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
        metavar=",".join(ARCHITECTURES),
        help="architectures to solve, comma separated (default: the instance's)",
    )


def add_time_limit(
    p: argparse.ArgumentParser,
    what: str = "wall-time limit of the whole command in seconds, shared by its solves",
    default: str = "the instance's search.time_limit_s",
) -> None:
    """--time-limit S, checked by `time_limit` (finite, > 0, at most a day) in every command."""
    p.add_argument(
        "--time-limit", type=float, default=None, metavar="S", help=f"{what} (default: {default})"
    )


def add_breakdown(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--breakdown",
        action="store_true",
        help="per-layer time of every stage (attention, grouped GEMM, dispatch and combine on "
        "each link, the step gap) against the stage budget, and each pool's memory (weights, "
        "KV cache, buffers) against usable HBM; json/csv get breakdown_* fields",
    )


def archs(text: str | None) -> list[str] | None:
    """--arch afd,ep: the architectures, each once (`solver.io.arguments`, as the API)."""
    return arguments.architectures_text(text, "--arch")


def add_debug(p: argparse.ArgumentParser) -> None:
    """`--debug` after the subcommand too (SUPPRESS keeps the top-level value when absent)."""
    p.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks for input errors too",
    )


def add_force(p: argparse.ArgumentParser, what: str = "existing output files") -> None:
    p.add_argument("--force", action="store_true", help=f"replace {what}")


# ---- option checks (InputError: one `error:` line each, exit code 2) ----------------------


def search_bound(name: str) -> float:
    """The upper bound of a search field (the single source: formulations.types)."""
    return checks.search_bound(name)


def time_limit(value: float | None, option: str = "--time-limit") -> float | None:
    """A time limit in seconds: finite, > 0 and at most search.time_limit_s's bound."""
    return arguments.time_limit(value, option)


def count(value: int | None, option: str, lo: int, hi: int) -> int | None:
    """An integer option in [lo, hi] (None stays None: the option was not given)."""
    return arguments.count(value, option, lo, hi)


def workers(value: int | None, option: str = "--workers") -> int | None:
    return arguments.workers(value, option)


def scheduler(value: str | None, option: str = "--scheduler") -> str | None:
    """A Dask scheduler address (checked before any client is made)."""
    return arguments.scheduler(value, option)


def deployment_spec(spec: str, option: str = "--deployment") -> None:
    """No key twice and every count within the bound of its search range."""
    problems = checks.check_deployment_spec(spec, option)
    if problems:
        raise InputError(problems)


def add_workers(
    p: argparse.ArgumentParser,
    what: str = "local worker processes (default: all CPUs; 1 runs in this process)",
) -> None:
    """--workers N, checked by `workers` (1 to MAX_WORKERS) in every command."""
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help=f"{what}; at most {limits.MAX_WORKERS}",
    )


def add_scheduler(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="tcp://HOST:PORT",
        help="run on this Dask scheduler's workers instead of local processes",
    )


def add_out_dir(p: argparse.ArgumentParser, what: str) -> None:
    """--out DIR (an empty path is refused, not taken as the current directory)."""
    p.add_argument("--out", default=None, metavar="DIR", help=what)


def add_export(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--export",
        default=None,
        metavar="DIR",
        help="write each program solved as .lp and .mps files into DIR (for Gurobi, CPLEX, ...)",
    )


# ---- --report FILE.html (issue 16) ----------------------------------------------------------


def add_report(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--report",
        default=None,
        metavar="FILE.html",
        help=f"write one self-contained HTML page (charts inlined, printable): {what}",
    )


def report_path(text: str | None, force: bool) -> Path | None:
    """The checked `--report` path, before any work: an .html name, absent unless `force`,
    never a link, a device or a directory (`solver.io.outputs.check_out_file`)."""
    from solver.io.outputs import check_out_file

    if text is None:
        return None
    if not str(text).lower().endswith((".html", ".htm")):
        raise InputError([f"--report {text}: name an .html file"])
    return check_out_file(text, "--report", force)


def command_text(args: argparse.Namespace) -> str:
    """The command line that produced a report, quoted for a shell."""
    import shlex

    return "afd-solver " + " ".join(shlex.quote(a) for a in args.argv)


def write_report(path: Path, text: str) -> None:
    """The page at `path` (`solver.report_html.write_page`)."""
    from solver.report_html import write_page

    write_page(path, text)
