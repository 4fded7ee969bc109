"""The tables of a sized fleet: plan rows, hardware rows, shortage rows (pandas)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from formulations.fleet import FleetProblem, gpus_used
from solver.columns import typed
from solver.io.fleet import Fleet
from solver.sizing.candidates import Pairing

PLAN_COLUMNS = (
    "workload",
    "architecture",
    "attention_hardware",
    "ffn_hardware",
    "attention_nodes",
    "ffn_nodes",
    "nodes",
    "replicas",
    "gpus",
    "sequences_per_gpu",
    "tokens_per_s",
    "tpot_ms",
    "cost_per_hour",
    "tp_groups",  # appended (issue 15): TP's groups r and GPUs per group t, per replica
    "tensor_parallel",
)
HARDWARE_COLUMNS = (
    "hardware",
    "gpus",
    "inventory_gpus",
    "cost_per_hour",
    "shadow_price_per_gpu_hour",
)
SHORTAGE_COLUMNS = ("workload", "hardware", "missing_gpus", "reason")


@dataclass(frozen=True)
class Offer:
    """What a candidate is: its workload, pairing and frontier row."""

    workload: int
    pairing: Pairing
    row: dict[str, Any]


def frame(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    """`rows` under `columns`, counts as nullable integers (the column registry's types)."""
    return typed(pd.DataFrame(rows, columns=list(columns)))


def plan_table(
    fleet: Fleet, problem: FleetProblem, offers: list[Offer], replicas: list[int]
) -> pd.DataFrame:
    rows: list[tuple[tuple[int, float], dict[str, Any]]] = []
    for i, x in enumerate(replicas):
        if x <= 0:
            continue
        o, c = offers[i], problem.candidates[i]
        price = sum(problem.pool(h).price_per_gpu_hour * n for h, n in c.gpus)
        rows.append(
            (
                (o.workload, -x * price),
                {
                    "workload": fleet.workloads[o.workload].name,
                    "architecture": o.pairing.architecture,
                    "attention_hardware": o.pairing.attention_hardware,
                    "ffn_hardware": o.pairing.ffn_hardware,
                    # A row holds None under the pools its architecture does not have.
                    "attention_nodes": o.row.get("attention_nodes"),
                    "ffn_nodes": o.row.get("ffn_nodes"),
                    "nodes": o.row.get("nodes"),
                    "replicas": x,
                    "gpus": x * c.total_gpus,
                    "sequences_per_gpu": o.row.get("sequences_per_gpu"),
                    "tokens_per_s": x * c.tokens_per_s,
                    "tpot_ms": o.row.get("tpot_ms"),
                    "cost_per_hour": x * price,
                    "tp_groups": o.row.get("tp_groups"),
                    "tensor_parallel": o.row.get("tensor_parallel"),
                },
            )
        )
    rows.sort(key=lambda r: r[0])
    return frame([r for _, r in rows], PLAN_COLUMNS)


def hardware_table(
    problem: FleetProblem, replicas: list[int] | None, shadow: dict[str, float | None]
) -> pd.DataFrame:
    used = gpus_used(problem, replicas) if replicas is not None else {}
    rows = []
    for p in problem.pools:
        gpus = used.get(p.hardware, 0) if replicas is not None else None
        rows.append(
            {
                "hardware": p.hardware,
                "gpus": gpus,
                "inventory_gpus": p.inventory_gpus,
                "cost_per_hour": None if gpus is None else gpus * p.price_per_gpu_hour,
                "shadow_price_per_gpu_hour": shadow.get(p.hardware),
            }
        )
    return frame(rows, HARDWARE_COLUMNS).astype({"inventory_gpus": "Int64"})
