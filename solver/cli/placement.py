"""CLI subcommands `place` (expert placement per layer) and `imbalance` (retention table)."""

from __future__ import annotations

import argparse
import math
import os

import numpy as np
import pandas as pd

from formulations.types import PROGRAM_BACKENDS
from solver import report
from solver.cli import options
from solver.errors import InputError
from solver.io import limits, numbers
from solver.io.loader import parse_assignments
from solver.io.outputs import check_out_file, replacing

MAX_OPTION_VALUES = 100
"""Longest --sigmas / --lambdas list (each sigma costs a few solves)."""


def _floats(text: str, option: str, lo: float, hi: float) -> tuple[float, ...]:
    """Comma-separated finite numbers in [lo, hi], no value twice."""
    shown = text if len(text) <= 60 else f"{text[:55]}..."
    items = [v.strip() for v in text.split(",") if v.strip()]
    bounds = numbers.Bounds(ge=lo, le=hi)
    values = []
    for item in items:
        value, problem = numbers.parse(item, option, bounds=bounds)
        if problem and "must be a number" in problem:
            raise InputError([f"{option} {shown!r}: expected comma-separated numbers"])
        if problem:  # NaN, an infinity, any size beyond the range
            raise InputError([f"{option} {item[:30]}: each value must be in [{lo:g}, {hi:g}]"])
        values.append(float(value))
    if not values:
        raise InputError([f"{option}: give at least one value"])
    if len(values) > MAX_OPTION_VALUES:
        raise InputError([f"{option}: {len(values)} values; at most {MAX_OPTION_VALUES}"])
    if len(set(values)) != len(values):
        raise InputError([f"{option} {shown!r}: a value is given twice"])
    return tuple(values)


def default_ranks(experts: int, slots_per_rank: int, unit_gpus: int) -> int:
    """The fewest whole units of GPUs whose expert slots hold every replica."""
    gpus = math.ceil(experts / slots_per_rank)
    return unit_gpus * math.ceil(gpus / unit_gpus)


DEFAULT_LAYER_S = 2.0
"""`place` without --time-limit: each layer's placement program gets this long."""


def layer_limit_s(time_limit_s: float | None, layers: int, workers: int | None) -> float:
    """Each layer's time so that all of them end within `time_limit_s`: layers run one per
    worker, so ceil(layers / workers) rounds share it."""
    if time_limit_s is None:
        return DEFAULT_LAYER_S
    parallel = max(1, min(workers or os.cpu_count() or 1, layers))
    return time_limit_s / max(1, math.ceil(layers / parallel))


def cmd_place(args: argparse.Namespace) -> int:
    from solver.api import as_instance
    from solver.imbalance import expert_loads
    from solver.io.loads import LoadsError, load_expert_loads
    from solver.placement.achieved import default_slots_per_rank
    from solver.placement.place import SUMMARY_COLUMNS, place_layers

    replica_top = int(options.search_bound("redundant_experts"))
    options.count(args.ranks, "--ranks", 1, int(options.search_bound("nodes")))
    options.count(
        args.slots_per_rank, "--slots-per-rank", 1, int(options.search_bound("experts_per_gpu"))
    )
    options.count(args.replicas, "--replicas", 0, replica_top)
    options.workers(args.workers)
    time_limit_s = options.time_limit(args.time_limit)
    inst = as_instance(args.file, parse_assignments(args.set))
    loads: np.ndarray | None
    if args.loads:
        try:
            loads = load_expert_loads(args.loads, inst.model)
        except LoadsError as exc:
            raise InputError([f"--loads: {exc}"]) from None
    else:
        loads = expert_loads(inst)
        if loads is None:
            raise InputError(
                [
                    f"{args.file}: no expert loads: pass --loads SPEC|CSV or set "
                    "workload.expert_loads (e.g. zipf:s=1.1,seed=7)"
                ]
            )
    replicas = inst.search.redundant_experts.lo if args.replicas is None else args.replicas
    slots = default_slots_per_rank(inst) if args.slots_per_rank is None else args.slots_per_rank
    experts = inst.model.num_routed_experts + replicas
    ranks = default_ranks(experts, max(slots, 1), inst.search.unit_gpus)
    ranks = ranks if args.ranks is None else args.ranks
    problems = []
    if slots < 1:
        problems.append(f"slots per rank {slots}: HBM holds no expert slot; pass --slots-per-rank")
    elif ranks * slots < experts:
        problems.append(f"--ranks {ranks} x {slots} slots hold fewer than the {experts} replicas")
    if replicas > inst.model.num_routed_experts * (ranks - 1):
        problems.append(
            f"--replicas {replicas}: more than one replica per expert per rank "
            f"(at most {inst.model.num_routed_experts * (ranks - 1)} on {ranks} ranks)"
        )
    engine_format = args.format in ENGINE_FORMATS
    if engine_format:
        problems += _engine_map_problems(args.format, args.out, experts, ranks, slots)
    if problems:
        raise InputError(problems)
    if engine_format:
        slots = experts // ranks  # every rank holds the same number of physical experts
    limits.check_placement_size(ranks, experts, "place")
    out = check_out_file(args.out, "--out", args.force) if args.out is not None else None
    summary, placement = place_layers(
        loads,
        ranks,
        slots,
        replicas,
        backend=args.backend or "highs",
        time_limit_s=layer_limit_s(time_limit_s, len(loads), args.workers),
        workers=args.workers,
    )
    summary = summary[list(SUMMARY_COLUMNS)]
    if out is not None:
        with replacing(out) as tmp:
            if engine_format:
                tmp.write_text(_engine_map(args.format, placement, inst, ranks, slots))
            else:
                placement.to_csv(tmp, index=False)
    if engine_format:
        print(_place_table(summary))
        print(f"{args.format} expert map written to {args.out} ({ENGINE_FORMATS[args.format]})")
    elif args.format == "table":
        print(_place_table(summary))
        if args.out:
            print(f"placement written to {args.out} ({len(placement)} replicas)")
    else:
        print(report.render(summary, args.format, with_verdict=False))
    return 0


ENGINE_FORMATS = {
    "sglang": "SGLang 0.5.23: --init-expert-location FILE.json with --ep-num-redundant-experts R",
    "vllm": "vLLM 0.33.0 loads no map at start-up: the physical-to-logical rows of its EPLB state",
    "trtllm": "TensorRT-LLM: moe_config.load_balancer of the --config YAML (WIDEEP backend)",
}
"""`place --format ENGINE`: the per-layer physical-to-logical map in the form each engine loads
(solver.launch.expert_map), and which flag loads it."""


def _engine_map_problems(
    fmt: str, out: str | None, experts: int, ranks: int, slots: int
) -> list[str]:
    """An engine map needs a file and the same number of physical experts on every rank."""
    problems = []
    if not out:
        problems.append(f"--format {fmt}: writes the engine's expert map; give --out FILE")
    if experts % ranks:
        problems.append(
            f"--format {fmt}: the engines give every rank the same number of experts: E + R = "
            f"{experts} is not a multiple of --ranks {ranks}; choose --replicas so it is"
        )
    elif experts // ranks > slots:
        problems.append(f"--format {fmt}: {experts // ranks} experts per rank exceed {slots} slots")
    return problems


def _engine_map(fmt: str, placement: pd.DataFrame, inst, ranks: int, slots: int) -> str:
    from solver.launch import expert_map

    model = inst.model
    rank_slots = expert_map.from_placement(placement, model.num_moe_layers, ranks, slots)
    return expert_map.render(
        fmt, rank_slots, model.num_routed_experts, model.num_layers, model.num_dense_layers
    )


def _place_table(summary: pd.DataFrame) -> str:
    mean = summary["mean_load"]
    table = pd.DataFrame(
        {
            "layer": summary["layer"],
            "max/mean": (summary["max_load"] / mean).map("{:.4f}".format),
            "bound": (summary["lower_bound"] / mean).map("{:.4f}".format),
            "greedy": (summary["greedy_max_load"] / mean).map("{:.4f}".format),
            "status": summary["status"],
            "gap": summary["gap"].map("{:.2%}".format),
            "solve s": summary["solve_s"].map("{:.3f}".format),
        }
    )
    first = summary.iloc[0]
    head = (
        f"ranks {first['ranks']}, slots per rank {first['slots_per_rank']}, "
        f"replicas {first['replicas']}"
    )
    tail = (
        f"mean over {len(summary)} layers: max/mean {(summary['max_load'] / mean).mean():.4f}, "
        f"bound {(summary['lower_bound'] / mean).mean():.4f}, "
        f"greedy {(summary['greedy_max_load'] / mean).mean():.4f}"
    )
    return "\n".join([head, table.to_string(index=False), tail])


def cmd_imbalance(args: argparse.Namespace) -> int:
    from solver.analysis.retention import retention_table
    from solver.api import as_instance

    # sigma >= MIN_SIGMA: the hottest rank then carries at most 1 / MIN_SIGMA of the mean,
    # the largest workload.expert_imbalance (and the closed forms never divide by zero).
    sigmas = _floats(args.sigmas, "--sigmas", limits.MIN_SIGMA, 1.0)
    lambdas = _floats(args.lambdas, "--lambdas", 1e-6, limits.MAX_LAMBDA)
    inst = as_instance(args.file, parse_assignments(args.set))
    df = retention_table(inst, sigmas, lambdas, args.backend)
    if args.format == "table":
        print(df.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    else:
        print(report.render(df, args.format, with_verdict=False))
    return 0


def register_place(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("place", help="place expert replicas on ranks, layer by layer")
    options.add_debug(p)
    options.add_file(p)
    p.add_argument(
        "--loads",
        metavar="SPEC|CSV",
        help="expert loads: CSV layer,expert,tokens or zipf:s=1.1,seed=7 | "
        "lognormal:sigma=0.8,seed=3 | uniform (default: workload.expert_loads)",
    )
    p.add_argument(
        "--ranks",
        type=int,
        metavar="N",
        help="expert ranks (GPUs); default: the fewest whole units whose HBM holds every replica",
    )
    p.add_argument(
        "--replicas",
        type=int,
        metavar="R",
        help="redundant replicas per layer (default: search.redundant_experts min)",
    )
    p.add_argument(
        "--slots-per-rank",
        type=int,
        metavar="S",
        help="expert slots per rank (default: what usable HBM holds)",
    )
    p.add_argument(
        "--backend",
        choices=PROGRAM_BACKENDS,
        default=None,
        help="placement program backend (default: highs)",
    )
    options.add_time_limit(
        p,
        "wall-time limit of the whole command in seconds: the layers share it, each solved "
        "within S / rounds, a round being one layer per worker",
        f"{DEFAULT_LAYER_S:g} s for each layer",
    )
    options.add_workers(p, "parallel processes over layers (default: all cores)")
    p.add_argument(
        "--out", metavar="CSV", help="write the placement: layer,rank,expert,replica_share"
    )
    options.add_force(p, "an existing --out file")
    p.add_argument(
        "--format",
        choices=(*report.FORMATS, *ENGINE_FORMATS),
        default="table",
        help="output format (default: table); sglang, vllm or trtllm write --out as that "
        "engine's per-layer expert map (" + "; ".join(ENGINE_FORMATS.values()) + ")",
    )
    options.add_set(p)
    p.set_defaults(handler=cmd_place)


def register_imbalance(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "imbalance", help="closed-form imbalance retention next to what the programs achieve"
    )
    options.add_debug(p)
    options.add_file(p)
    p.add_argument(
        "--sigmas",
        default="1,0.95,0.9,0.85,0.8,0.75,0.7,0.6,0.5",
        help="share of its capacity the imbalanced expert stage keeps, in [0.001, 1]",
    )
    p.add_argument(
        "--lambdas",
        default="1,2,3,4",
        help="t_a / t_f values for the EP closed-form grid, in [1e-6, 1e6]",
    )
    options.add_backend(p)
    options.add_format(p)
    options.add_set(p)
    p.set_defaults(handler=cmd_imbalance)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's subcommands to the subcommand parser."""
    register_place(sub)
    register_imbalance(sub)
