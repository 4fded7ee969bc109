"""Python API: `solve` and `evaluate` return one pandas row per architecture.

Columns (a contract shared with the CLI's csv/json output):
architecture, status, attention_nodes, ffn_nodes, nodes, gpus,
sequences_per_gpu, micro_batches, tokens_per_s_per_gpu, tokens_per_s, tpot_ms,
ffn_hfu, ffn_ofu, temporal_sparsity, binding, discrete_penalty, objective,
backend, solve_s.

`binding` names the binding resources of an optimum; for an infeasible row it
carries the reason in words, and a time-limited row appends its gap. Then
expert_imbalance (max/mean load of the hottest expert rank after placement),
redundant_experts (R) and imbalance_loss (share of the objective lost to expert
and DP imbalance, against the same instance perfectly balanced).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pandas as pd

from formulations.binding import binding
from formulations.costs import CostModel
from formulations.layouts import layout_eps
from formulations.metrics import metrics, resource
from formulations.types import Deployment, Instance
from solver.backends import Status
from solver.errors import InputError
from solver.imbalance import imbalance_fn
from solver.io.loader import load_instance
from solver.optimize import Outcome, optimize
from solver.shadow import SHADOW_COLUMNS, shadow_cells

COLUMNS = (
    "architecture",
    "status",
    "attention_nodes",
    "ffn_nodes",
    "nodes",
    "gpus",
    "sequences_per_gpu",
    "micro_batches",
    "tokens_per_s_per_gpu",
    "tokens_per_s",
    "tpot_ms",
    "ffn_hfu",
    "ffn_ofu",
    "temporal_sparsity",
    "binding",
    "discrete_penalty",
    "objective",
    "backend",
    "solve_s",
    "expert_imbalance",
    "redundant_experts",
    "imbalance_loss",
)


INT_COLUMNS = (
    "attention_nodes",
    "ffn_nodes",
    "nodes",
    "gpus",
    "sequences_per_gpu",
    "micro_batches",
)


def frame(rows: list[dict[str, Any]], extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """Rows as a DataFrame with the contract's columns (then `extra`); counts stay integers."""
    df = pd.DataFrame(rows, columns=[*COLUMNS, *extra])
    return df.astype({c: "Int64" for c in INT_COLUMNS})


def as_instance(
    path_or_instance: str | Path | Instance, overrides: dict[str, Any] | None = None
) -> Instance:
    """An `Instance` from a file path (with dotted overrides) or as given."""
    if isinstance(path_or_instance, Instance):
        if overrides:
            raise InputError(
                ["overrides apply to instance files; edit the Instance object instead"]
            )
        return path_or_instance
    return load_instance(path_or_instance, overrides)


def _deployment_cells(cm: CostModel, d: Deployment, eps: float) -> dict[str, Any]:
    m = metrics(cm, d, eps)
    return {
        "expert_imbalance": eps,
        "redundant_experts": d.redundant,
        "attention_nodes": d.attention_units,
        "ffn_nodes": d.ffn_units,
        "nodes": d.units
        if d.architecture == "ep"
        else (d.attention_units or 0) + (d.ffn_units or 0),
        "gpus": m.gpus,
        "sequences_per_gpu": d.seqs_per_gpu,
        "micro_batches": d.micro_batches,
        "tokens_per_s_per_gpu": m.tokens_per_s_per_gpu,
        "tokens_per_s": m.tokens_per_s,
        "tpot_ms": m.tpot_ms,
        "ffn_hfu": m.ffn_hfu,
        "ffn_ofu": m.ffn_ofu,
        "temporal_sparsity": m.temporal_sparsity,
    }


def balanced(inst: Instance) -> Instance:
    """`inst` with perfectly balanced experts and DP ranks (the reference for imbalance_loss)."""
    w = dataclasses.replace(
        inst.workload, expert_imbalance=1.0, expert_loads=None, dp_imbalance=1.0
    )
    return inst.replace(workload=w)


def is_balanced(inst: Instance) -> bool:
    w = inst.workload
    return w.expert_loads is None and w.expert_imbalance == 1.0 and w.dp_imbalance == 1.0


def imbalance_loss(objective: str, value: float | None, reference: float | None) -> float | None:
    """Share of the objective lost to imbalance (GPUs for min_gpus: the extra share needed)."""
    if value is None or reference is None or value == 0:
        return None
    if objective == "min_gpus":
        return max(0.0, 1.0 - reference / value)
    return max(0.0, 1.0 - value / reference) if reference > 0 else None


def outcome_row(inst: Instance, out: Outcome, reference: Outcome | None = None) -> dict[str, Any]:
    """One result row for an optimisation outcome (`reference`: the balanced optimum)."""
    row: dict[str, Any] = {c: None for c in COLUMNS}
    row.update(
        architecture=out.architecture,
        status=str(out.status),
        discrete_penalty=out.discrete_penalty,
        objective=out.objective,
        backend=out.backend,
        solve_s=out.solve_s,
    )
    if out.deployment is None:
        row["binding"] = out.reason or None
        return row
    cm = CostModel.of(inst)
    row.update(_deployment_cells(cm, out.deployment, out.eps))
    row["imbalance_loss"] = (
        0.0
        if reference is None
        else imbalance_loss(inst.search.objective, out.objective, reference.objective)
    )
    blocked = binding(cm, out.deployment, inst.search, out.eps)
    if inst.search.objective == "min_gpus":
        blocked = ["demand", *blocked]
    text = "+".join(blocked)
    if out.status == Status.FEASIBLE:
        gap = "unknown" if out.gap is None else f"{out.gap:.2%}"
        text = f"{text}; time limit, gap {gap}"
    row["binding"] = text or None
    return row


def solve(
    path_or_instance: str | Path | Instance,
    *,
    architectures: list[str] | tuple[str, ...] | None = None,
    backend: str | None = None,
    overrides: dict[str, Any] | None = None,
    time_limit_s: float | None = None,
    shadow_prices: bool = False,
) -> pd.DataFrame:
    """Optimise each architecture of an instance; one row per architecture.

    Args:
        path_or_instance: an instance file or an `Instance`.
        architectures: subset of ("afd", "ep"); default the instance's search.architectures.
        backend: highs, cbc, cpsat or enumerate; default the instance's search.backend.
        overrides: dotted field overrides, e.g. {"workload.tpot_ms": 30}.
        time_limit_s: per-architecture limit; default the instance's search.time_limit_s.
        shadow_prices: append the shadow-price columns of `solver.shadow.SHADOW_COLUMNS`.
    """
    inst = as_instance(path_or_instance, overrides)
    if time_limit_s is not None:
        inst = inst.replace(search=dataclasses.replace(inst.search, time_limit_s=time_limit_s))
    archs = tuple(architectures or inst.search.architectures)
    rows = []
    for arch in archs:
        out = optimize(inst, arch, backend)
        reference = None if is_balanced(inst) else optimize(balanced(inst), arch, backend)
        row = outcome_row(inst, out, reference)
        if shadow_prices:
            row.update(shadow_cells(inst, out.deployment, out.eps))
        rows.append(row)
    return frame(rows, extra=SHADOW_COLUMNS if shadow_prices else ())


DEPLOYMENT_KEYS = {
    "arch": str,
    "architecture": str,
    "attention_nodes": int,
    "ffn_nodes": int,
    "nodes": int,
    "sequences_per_gpu": int,
    "micro_batches": int,
    "redundant_experts": int,
}


def parse_deployment(spec: str | dict[str, Any], inst: Instance) -> Deployment:
    """`arch=afd,attention_nodes=4,ffn_nodes=2,sequences_per_gpu=256` -> `Deployment`."""
    if isinstance(spec, str):
        fields: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, sep, value = part.partition("=")
            if not sep:
                raise InputError([f"--deployment: {part!r} must be key=value"])
            fields[key.strip()] = value.strip()
    else:
        fields = dict(spec)
    problems = []
    for key in fields:
        if key not in DEPLOYMENT_KEYS:
            problems.append(
                f"--deployment: {key}: unknown key; allowed: {', '.join(DEPLOYMENT_KEYS)}"
            )
    values: dict[str, Any] = {}
    for key, value in fields.items():
        kind = DEPLOYMENT_KEYS.get(key)
        if kind is int:
            try:
                values[key] = int(value)
            except (TypeError, ValueError):
                problems.append(f"--deployment: {key} = {value!r} must be an integer")
                continue
            if values[key] < (0 if key == "redundant_experts" else 1):
                problems.append(
                    f"--deployment: {key} = {value} is out of range: must be >= "
                    f"{0 if key == 'redundant_experts' else 1}"
                )
        elif kind is str:
            values["arch"] = str(value).lower()
    arch = values.get("arch")
    required = {
        "afd": ("attention_nodes", "ffn_nodes", "sequences_per_gpu"),
        "ep": ("nodes", "sequences_per_gpu"),
    }
    if arch not in required:
        problems.append("--deployment: arch must be afd or ep")
    else:
        problems += [
            f"--deployment: {k}: missing, required for arch={arch}"
            for k in required[arch]
            if k not in values
        ]
        nbo = values.get("micro_batches")
        if arch == "afd" and nbo is not None and nbo < 3:
            problems.append(
                "--deployment: micro_batches must be >= 3 for AFD (three-batch overlap)"
            )
    if problems:
        raise InputError(problems)
    s = inst.search
    default_nbo = (s.afd_micro_batches if arch == "afd" else s.ep_micro_batches).lo
    return Deployment(
        architecture=str(arch),
        seqs_per_gpu=values["sequences_per_gpu"],
        micro_batches=values.get("micro_batches", default_nbo),
        redundant=values.get("redundant_experts", s.redundant_experts.lo),
        attention_units=values.get("attention_nodes") if arch == "afd" else None,
        ffn_units=values.get("ffn_nodes") if arch == "afd" else None,
        units=values.get("nodes") if arch == "ep" else None,
    )


def evaluate(
    path_or_instance: str | Path | Instance,
    deployment: str | dict[str, Any] | Deployment,
    *,
    overrides: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Evaluate one fixed deployment without optimising and without forcing the SLO.

    Reports the TPOT it would reach and its throughput at that pace. Status:
    `feasible` (meets the SLO and fits), `slo_violated` (fits but is slower than
    the TPOT target), `infeasible` (does not fit in memory); `binding` lists
    the violated families, or for a feasible one what stops it growing.
    """
    start = time.perf_counter()
    inst = as_instance(path_or_instance, overrides)
    d = deployment if isinstance(deployment, Deployment) else parse_deployment(deployment, inst)
    cm = CostModel.of(inst)
    eps = layout_eps(imbalance_fn(inst), d, inst.search.unit_gpus)
    m = metrics(cm, d, eps, enforce_slo=False)
    memory = [v for v in m.violated if v.endswith("hbm_capacity")]
    if memory:
        status = "infeasible"
    elif m.violated:
        status = "slo_violated"
    else:
        status = "feasible"
    row: dict[str, Any] = {c: None for c in COLUMNS}
    row.update(architecture=d.architecture, status=status, backend="evaluate")
    row.update(_deployment_cells(cm, d, eps))
    row.update(
        tokens_per_s=m.tokens_per_s,
        tokens_per_s_per_gpu=m.tokens_per_s_per_gpu,
    )
    even = metrics(CostModel.of(balanced(inst)), d, 1.0, enforce_slo=False)
    row["imbalance_loss"] = imbalance_loss("tokens_per_gpu", m.tokens_per_s, even.tokens_per_s)
    if m.violated:
        row["binding"] = "+".join(dict.fromkeys(resource(cm, d, f, eps) for f in m.violated))
    else:
        row["binding"] = "+".join(binding(cm, d, inst.search, eps)) or None
    row["solve_s"] = time.perf_counter() - start
    return frame([row])
