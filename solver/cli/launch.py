"""Subcommand `launch`: the launch configuration of an engine for the chosen (or a given)
deployment, and the manifest (`solver.launch`)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from formulations.types import ARCHITECTURES
from solver.cli import options
from solver.errors import InputError
from solver.io.loader import parse_assignments
from solver.io.outputs import check_out_dir
from solver.launch import run

LAUNCH_FORMATS = ("table", "json")


def _arch(text: str | None) -> str | None:
    if text is None:
        return None
    arch = text.strip().lower()
    if arch not in ARCHITECTURES:
        raise InputError([f"--arch {text[:60]!r}: choose one of {', '.join(ARCHITECTURES)}"])
    return arch


def _loads(args: argparse.Namespace, inst):
    from solver.imbalance import expert_loads
    from solver.io.loads import LoadsError, load_expert_loads

    if args.loads:
        try:
            return load_expert_loads(args.loads, inst.model)
        except LoadsError as exc:
            raise InputError([f"--loads: {exc}"]) from None
    return expert_loads(inst)


def deliver(
    args: argparse.Namespace,
    inst,
    engine: str,
    chosen: tuple | None = None,
) -> int:
    """Render `engine`'s hand-over and write or print it (shared with `solve --launch`)."""
    command = "afd-solver " + " ".join(shlex.quote(a) for a in args.argv)
    if chosen is None:
        branch, d, row = run.choose(
            inst, args.deployment, _arch(args.arch), args.backend, args.time_limit
        )
    else:
        branch, d, row = chosen
    h = run.handover(
        engine,
        branch,
        d,
        row,
        loads=_loads(args, inst),
        command=command,
        workers=getattr(args, "workers", None),
    )
    if args.out is not None:
        written = run.write(h, args.out_dir)
        print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    if getattr(args, "launch_format", "table") == "json":
        print(json.dumps(run.summary(h), indent=2))
    else:
        print(run.text(h))
    return 0


def cmd_launch(args: argparse.Namespace) -> int:
    from solver.api import as_instance

    engine = run.engine_choice(args.engine)
    assert engine is not None
    if args.deployment is not None and args.arch is not None:
        raise InputError(["--deployment/--arch: give one (the deployment names its arch)"])
    _arch(args.arch)
    if args.deployment is not None:
        options.deployment_spec(args.deployment)
    options.time_limit(args.time_limit)
    options.workers(args.workers)
    args.out_dir = None
    if args.out is not None:
        args.out_dir = check_out_dir(args.out, "--out", run.output_files(engine), args.force)
    elif args.force:
        raise InputError(["--force: goes with --out DIR"])
    inst = as_instance(args.file, parse_assignments(args.set))
    args.launch_format = args.format
    return deliver(args, inst, engine)


def add_loads(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--loads",
        metavar="SPEC|CSV",
        help="expert loads to place the experts on (CSV layer,expert,tokens or zipf:s=1.1,seed=7 "
        "...; default workload.expert_loads; without loads the engines' trivial layout)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "launch",
        help="launch commands of an engine (sglang, vllm, trtllm) or a manifest for the chosen "
        "deployment",
        description="For the best deployment (or --deployment), the launch command of each "
        "node role of SGLang 0.5.23, vLLM 0.33.0 or TensorRT-LLM (main @ 00209af), with the "
        "expert map the engine loads at start-up, and manifest.json (pools, ranks, batches, "
        "expert-to-rank map, expected TPOT and throughput). Where the engine cannot run the "
        "deployment (AFD) it says so and writes the manifest.",
    )
    options.add_debug(p)
    options.add_file(p)
    p.add_argument(
        "--engine",
        required=True,
        metavar="ENGINE",
        help=f"one of {', '.join(run.CHOICES)}",
    )
    p.add_argument(
        "--deployment",
        default=None,
        metavar="SPEC",
        help="launch this deployment instead of solving, e.g. "
        "arch=ep,nodes=6,sequences_per_gpu=262",
    )
    p.add_argument(
        "--arch",
        default=None,
        metavar="afd|ep",
        help="solve this architecture only (default: the winner)",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="write launch-ENGINE.sh, the engine's config and expert map, and manifest.json",
    )
    options.add_force(p, "existing files in --out")
    p.add_argument(
        "--format", choices=LAUNCH_FORMATS, default="table", help="output format (default: table)"
    )
    add_loads(p)
    options.add_set(p)
    options.add_backend(p)
    options.add_time_limit(p)
    options.add_workers(p)
    p.set_defaults(handler=cmd_launch)
