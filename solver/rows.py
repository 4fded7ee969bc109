"""Result rows: the `COLUMNS` contract of `solve` and `evaluate`, one row per architecture.

A row describes one deployment at its own pace on the hardware pairing it runs on
(`attention_hardware`, `ffn_hardware`: the same name twice for EP and for AFD on one hardware;
docs/model.md §17).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from formulations import archspec, pairings
from formulations.binding import binding_of
from formulations.breakdown import breakdown_of
from formulations.costs import CostModel
from formulations.metrics import metrics
from formulations.types import Deployment, Instance
from solver import columns
from solver.backends import Status
from solver.optimize import Outcome

COLUMNS = columns.RESULT
INT_COLUMNS = tuple(columns.integers(COLUMNS))

BREAKDOWN_PREFIX = "breakdown_"
"""`--breakdown` appends every breakdown quantity as a column with this prefix."""


def frame(rows: list[dict[str, Any]], extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """Rows as a DataFrame with the contract's columns (then `extra`); counts stay integers."""
    extras = list(extra) + sorted({k for r in rows for k in r} - set(COLUMNS) - set(extra))
    df = pd.DataFrame(rows, columns=[*COLUMNS, *extras])
    return columns.typed(df)


def branch_of(inst: Instance, out: Outcome) -> Instance:
    """The single-pairing instance an outcome's deployment runs on (the instance itself when
    it has no deployment)."""
    return inst if out.pairing is None else pairings.on(inst, *out.pairing)


def hardware_cells(inst: Instance) -> dict[str, str]:
    """`attention_hardware` and `ffn_hardware` of a single-pairing instance."""
    return {"attention_hardware": inst.hardware.name, "ffn_hardware": inst.ffn_hardware_name}


def physical_nodes(inst: Instance, d: Deployment, gpus: int) -> int:
    """The `nodes` column: every unit (AFD N_A + N_F, EP N); for an architecture that sizes its
    own unit (TP groups of t GPUs) the nodes its GPUs fill, ceil(gpus / gpus_per_node)."""
    if archspec.get(d.architecture).unit_gpus_field is None:
        return d.total_units
    return -(-gpus // inst.hardware.gpus_per_node)


def deployment_cells(inst: Instance, d: Deployment, eps: float) -> dict[str, Any]:
    """The columns that describe a deployment and its own-pace metrics."""
    cm = CostModel.for_deployment(inst, d)
    m = metrics(cm, d, eps)
    return {
        "expert_imbalance": eps,
        "redundant_experts": d.redundant,
        # Each pool's units under its own column (None where the architecture has no such pool).
        **archspec.unit_cells(d),
        "nodes": physical_nodes(inst, d, m.gpus),
        "gpus": m.gpus,
        "sequences_per_gpu": d.sequences_per_gpu,
        "micro_batches": d.micro_batches,
        "micro_batch_size": m.micro_batch_size,
        "tokens_per_s_per_gpu": m.tokens_per_s_per_gpu,
        "tokens_per_s": m.tokens_per_s,
        "tpot_ms": m.tpot_ms,
        "ffn_hfu": m.ffn_hfu,
        "ffn_ofu": m.ffn_ofu,
        "temporal_sparsity": m.temporal_sparsity,
    }


def breakdown_cells(inst: Instance, d: Deployment | None, eps: float) -> dict[str, Any]:
    if d is None:
        return {}
    cm = CostModel.for_deployment(inst, d)
    return {BREAKDOWN_PREFIX + k: v for k, v in breakdown_of(cm, d, eps).items()}


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
    inst = branch_of(inst, out)
    row.update(deployment_cells(inst, out.deployment, out.eps))
    row.update(hardware_cells(inst))
    row["imbalance_loss"] = (
        0.0
        if reference is None
        else imbalance_loss(inst.search.objective, out.objective, reference.objective)
    )
    blocked = binding_of(inst, out.deployment, out.eps)
    if inst.search.objective == "min_gpus":
        blocked = ["demand", *blocked]
    text = "+".join(blocked)
    if out.status == Status.FEASIBLE:
        gap = "unknown" if out.gap is None else f"{out.gap:.2%}"
        text = f"{text}; time limit, gap {gap}"
    for note in out.notes:
        text = f"{text}; {note}"
    row["binding"] = text or None
    return row
