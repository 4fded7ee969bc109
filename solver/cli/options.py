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
        help="wall-time limit of the whole command in seconds, shared by its solves "
        "(default: the instance's search.time_limit_s)",
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
    if text is None:
        return None
    archs = [a.strip().lower() for a in text.split(",") if a.strip()]
    bad = [a for a in archs if a not in ARCHITECTURES]
    if bad or not archs:
        raise InputError([f"--arch {text!r}: choose from {', '.join(ARCHITECTURES)}"])
    return archs
