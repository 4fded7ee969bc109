"""Python API: `solve` and `evaluate` return one pandas row per architecture.

Columns (a contract shared with the CLI's csv/json output): `COLUMNS`. Every throughput and
utilisation column is measured at the deployment's own pace (docs/model.md §9); `objective` is
the value of the instance's objective (tokens/s per GPU, tokens/s, GPUs, or tokens/s per GPU
counted at the TPOT target). `sequences_per_gpu` is every sequence in flight on one attention
GPU (EP: one GPU), `micro_batch_size` the largest of its micro-batches.

`binding` names the binding resources of an optimum; for an infeasible row it carries the reason
in words, and a time-limited row appends its gap. expert_imbalance is the max/mean load of the
hottest expert rank after placement, redundant_experts R, imbalance_loss the share of the
objective lost to expert and DP imbalance (against the same instance perfectly balanced).
`attention_hardware` and `ffn_hardware` name the hardware of the two pools (EP: the same name
twice); with candidate lists each architecture's best pairing is reported (docs/model.md §17).

This module depends on nothing in `solver.analysis` (which builds on it); `solver.facade` joins
the two for the public `solve` of many files, `solve_many` and `pareto`.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from formulations import pairings
from formulations.binding import binding_of
from formulations.costs import CostModel
from formulations.layouts import layout_eps
from formulations.metrics import metrics, resource
from formulations.types import Deployment, Instance
from solver.errors import InputError
from solver.imbalance import imbalance_fn
from solver.io import arguments, limits
from solver.io.checks import (
    check_deployment_spec,
    check_model_workload,
    check_search_size,
)
from solver.io.deployment_spec import deployment_on_pairing, spec_of
from solver.io.loader import load_instance
from solver.io.numbers import show
from solver.optimize import optimize
from solver.rows import (
    BREAKDOWN_PREFIX,
    COLUMNS,
    INT_COLUMNS,
    balanced,
    branch_of,
    breakdown_cells,
    deployment_cells,
    frame,
    hardware_cells,
    imbalance_loss,
    is_balanced,
    outcome_row,
)
from solver.shadow import SHADOW_COLUMNS, shadow_cells

__all__ = [
    "BREAKDOWN_PREFIX",
    "COLUMNS",
    "INT_COLUMNS",
    "as_instance",
    "balanced",
    "evaluate",
    "frame",
    "outcome_row",
    "solve",
]

PathLike = str | os.PathLike[str]
"""A file or directory path as the API takes it."""

REFERENCE_SHARE = 0.25
"""Share of an architecture's remaining time the balanced reference solve may take."""


def as_instance(
    path_or_instance: PathLike | Instance, overrides: dict[str, Any] | None = None
) -> Instance:
    """An `Instance` from a file path (with dotted overrides) or as given."""
    overrides = arguments.overrides(overrides)
    if isinstance(path_or_instance, Instance):
        if overrides:
            raise InputError(
                ["overrides apply to instance files; edit the Instance object instead"]
            )
        inst = path_or_instance
        # A file's search space is sized by the loader; one built in code is sized here.
        problems = check_search_size(inst.search, inst.model, inst.workload, inst.hardware)
        problems += check_model_workload(inst.model, inst.workload)
        problems += limits.pairing_problems(len(pairings.pairings(inst, "afd")))
        if problems:
            raise InputError(problems)
        return inst
    path = arguments.path(
        path_or_instance, "path_or_instance", "an instance file path or an Instance"
    )
    return load_instance(path, overrides)


def solve(
    path_or_instance: PathLike | Instance,
    *,
    architectures: list[str] | tuple[str, ...] | None = None,
    backend: str | None = None,
    overrides: dict[str, Any] | None = None,
    time_limit_s: float | None = None,
    shadow_prices: bool = False,
    breakdown: bool = False,
    export: PathLike | None = None,
    progress: Callable[[str, int, float], None] | None = None,
    force: bool = False,
) -> pd.DataFrame:
    """Optimise each architecture of an instance; one row per architecture.

    Args:
        path_or_instance: an instance file or an `Instance` (`solver.solve` also takes a list
            of files: `solver.facade`).
        architectures: subset of formulations.types.ARCHITECTURES; default the instance's
            search.architectures.
        backend: highs, cbc, cpsat or enumerate; default the instance's search.backend.
        overrides: dotted field overrides, e.g. {"workload.tpot_ms": 30}.
        time_limit_s: wall-time limit of the whole call, shared by the architectures, their
            balanced reference solves and the shadow-price LPs; default search.time_limit_s.
        shadow_prices: append the shadow-price columns of `solver.shadow.SHADOW_COLUMNS`.
        breakdown: append every breakdown quantity (`breakdown_*` columns).
        export: write every certificate program as `.lp` and `.mps` into this directory,
            named `<instance>.<architecture>.<level>...` (docs/model.md §12); checked before
            any solving, and programs of the same instance already there are refused unless
            `force` (which removes them first).
        progress: called before each TPOT level with (architecture, level, TPOT level in s).
    """
    start = time.perf_counter()
    architectures, backend, time_limit_s, export = arguments.solve_options(
        architectures, backend, time_limit_s, shadow_prices, breakdown, export, force
    )
    progress = arguments.callback(progress, "progress")
    inst = as_instance(path_or_instance, overrides)
    if export is not None:
        check_export(export, [export_stem(inst)], force)
    return _solve_instance(
        inst, start, architectures, backend, time_limit_s, shadow_prices, breakdown, export,
        progress,
    )  # fmt: skip


def _solve_instance(
    inst: Instance,
    start: float,
    architectures: Sequence[str] | None,
    backend: str | None,
    time_limit_s: float | None,
    shadow_prices: bool,
    breakdown: bool,
    export: PathLike | None,
    progress: Callable[[str, int, float], None] | None,
) -> pd.DataFrame:
    """`solve` of one validated instance (arguments checked, export directory checked)."""
    limit = inst.search.time_limit_s if time_limit_s is None else time_limit_s
    deadline = start + limit
    archs = tuple(architectures or inst.search.architectures)
    rows = []
    for i, arch in enumerate(archs):
        share = (deadline - time.perf_counter()) / (len(archs) - i)
        mine = time.perf_counter() + share
        proofs: list[tuple[str, Any, float]] | None = [] if export is not None else None
        on_level = None if progress is None else functools.partial(progress, arch)
        reference = None
        if not is_balanced(inst):
            own = mine - REFERENCE_SHARE * share
            out = optimize(inst, arch, backend, deadline=own, proofs=proofs, on_level=on_level)
            reference = optimize(balanced(inst), arch, backend, deadline=mine)
        else:
            out = optimize(inst, arch, backend, deadline=mine, proofs=proofs, on_level=on_level)
        if proofs:
            export_proofs(Path(str(export)), inst, arch, proofs)
        row = outcome_row(inst, out, reference)
        branch = branch_of(inst, out)
        if shadow_prices:
            row.update(shadow_cells(branch, out.deployment, out.eps, deadline))
        if breakdown:
            row.update(breakdown_cells(branch, out.deployment, out.eps))
        rows.append(row)
    return frame(rows, extra=SHADOW_COLUMNS if shadow_prices else ())


def export_stem(inst: Instance | PathLike) -> str:
    """The stem an instance's exported programs start with (its file's stem, or its name)."""
    from solver.backends.export import stem

    if isinstance(inst, Instance):
        return stem(Path(inst.path).stem if inst.path else inst.name)
    return stem(Path(inst).stem)


def check_export(directory: PathLike, stems: Sequence[str], force: bool) -> Path:
    """The `--export` directory, checked before any solving: writable, no link or device among
    the programs of these stems, and none of them there already unless `force` (which
    removes them, so no stale level of an earlier run stays behind)."""
    from solver.backends.export import existing_programs
    from solver.io.outputs import check_out_dir, remove_outputs

    out = check_out_dir(directory, "--export", [], force)
    found = [p.name for s in dict.fromkeys(stems) for p in existing_programs(out, s)]
    check_out_dir(out, "--export", found, force)
    if force:
        remove_outputs(out, found)
    return out


def export_proofs(
    directory: Path, inst: Instance, arch: str, proofs: list[tuple[str, Any, float]]
) -> list[Path]:
    """Write each certificate program of one architecture (`solve --export`)."""
    from solver.backends.export import stem, write_program

    name = Path(inst.path).stem if inst.path else inst.name
    written: list[Path] = []
    for label, prob, _ in proofs:  # checked before solving (`check_export`)
        written += write_program(prob, directory, stem(name, arch, label))
    return written


def evaluate(
    path_or_instance: PathLike | Instance,
    deployment: str | dict[str, Any] | Deployment,
    *,
    overrides: dict[str, Any] | None = None,
    breakdown: bool = False,
) -> pd.DataFrame:
    """Evaluate one fixed deployment without optimising, at its own pace.

    Reports the TPOT it reaches and its throughput at that pace. Status: `feasible` (meets the
    TPOT target and fits), `slo_violated` (fits but is slower than the target), `infeasible`
    (does not fit in memory); `binding` lists the violated families, or for a feasible one what
    stops it growing. Any whole sequences_per_gpu is allowed: the micro-batches then differ by
    at most one sequence and the largest sets the stage time. With several hardware pairings to
    choose from the spec names its pairing: `attention_hardware=h20,ffn_hardware=h800` (AFD)
    or `hardware=h800` (EP); a `Deployment` object is evaluated on the only pairing there is.
    """
    start = time.perf_counter()
    arguments.flag(breakdown, "breakdown")
    inst = as_instance(path_or_instance, overrides)
    # A Deployment object is checked exactly like a --deployment string: the same fields,
    # the same bounds, the same words.
    if isinstance(deployment, Deployment):
        spec: str | dict[str, Any] = spec_of(deployment, inst.search.unit_gpus)
    elif isinstance(deployment, str | dict):
        spec = deployment
    else:
        raise InputError(
            [f"deployment = {show(deployment)}: give a spec such as "
             "'arch=ep,nodes=6,sequences_per_gpu=262', a dict of those keys or a Deployment"]
        )  # fmt: skip
    if problems := check_deployment_spec(spec):
        raise InputError(problems)
    inst, d = deployment_on_pairing(spec, inst)
    cm = CostModel.for_deployment(inst, d)
    eps = layout_eps(imbalance_fn(inst), d, inst.search.unit_gpus)
    m = metrics(cm, d, eps)
    memory = [v for v in m.violated if v.endswith("hbm_capacity")]
    status = "infeasible" if memory else ("slo_violated" if m.violated else "feasible")
    row: dict[str, Any] = {c: None for c in COLUMNS}
    row.update(architecture=d.architecture, status=status, backend="evaluate")
    row.update(deployment_cells(inst, d, eps))
    row.update(hardware_cells(inst))
    even = metrics(CostModel.for_deployment(balanced(inst), d), d, 1.0)
    row["imbalance_loss"] = imbalance_loss("tokens_per_gpu", m.tokens_per_s, even.tokens_per_s)
    if m.violated:
        row["binding"] = "+".join(dict.fromkeys(resource(cm, d, f, eps) for f in m.violated))
    else:
        row["binding"] = "+".join(binding_of(inst, d, eps)) or None
    if breakdown:
        row.update(breakdown_cells(inst, d, eps))
    row["solve_s"] = time.perf_counter() - start
    return frame([row])
