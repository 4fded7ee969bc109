"""Option definitions shared by every subcommand (one place, so help text and defaults agree)."""

from __future__ import annotations

import argparse

from formulations.types import ARCHITECTURES, BACKENDS
from solver import report
from solver.errors import InputError

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


def archs(text: str | None) -> list[str] | None:
    if text is None:
        return None
    archs = [a.strip().lower() for a in text.split(",") if a.strip()]
    bad = [a for a in archs if a not in ARCHITECTURES]
    if bad or not archs:
        raise InputError([f"--arch {text!r}: choose from {', '.join(ARCHITECTURES)}"])
    return archs


def add_workers(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="local worker processes (default: all CPUs; 1 runs in this process)",
    )


def add_scheduler(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="tcp://HOST:PORT",
        help="run on this Dask scheduler's workers instead of local processes",
    )


def add_export(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--export",
        default=None,
        metavar="DIR",
        help="write each program solved as .lp and .mps files into DIR (for Gurobi, CPLEX, ...)",
    )
