"""Render a sized fleet: a table readable at 100 columns, CSV, JSON, and `--out DIR` files.

`--out DIR` writes plan.csv, hardware.csv and plan.png (`solver.sizing.plan_plot`:
GPUs per hardware, stacked by workload, one bar per architecture; over the
periods when demand changes); existing files are never overwritten unless
`force` is given. The table's `n/GPU` is `sequences_per_gpu`, as in `solve`'s
table (where `b` is the largest micro-batch).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from formulations import archspec
from solver import report
from solver.io.outputs import check_out_dir, replacing
from solver.sizing.plan_plot import plot_plan
from solver.sizing.size import SizeResult

FILES = ("plan.csv", "hardware.csv", "plan.png")
_NAME_WIDTH = 16
_UNIT_COLUMNS = (*archspec.POOL_COLUMNS, archspec.UNIT_GPUS_COLUMN)
"""The plan table's unit columns: every pool's (N_A, N_F, N, TP's r) and TP's group size t;
"-" where a row's architecture has none."""
_ALWAYS_SHOWN = ("attention_nodes", "ffn_nodes", "nodes")
"""Unit columns the table shows even when no row has them (the others only when one has)."""
_HEADERS = {
    **{p.column: p.symbol for s in archspec.SPECS.values() for p in s.pools},
    archspec.UNIT_GPUS_COLUMN: "t",
}


def _money(value: Any) -> str:
    return "-" if value is None else f"${value:,.2f}/h"


def _cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)


def _columns(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in rows
    ]


def _hardware_label(rec: dict[str, Any]) -> str:
    a, f = rec["attention_hardware"], rec["ffn_hardware"]
    return a if a == f else f"{a}+{f}"


def _name(text: str) -> str:
    return text if len(text) <= _NAME_WIDTH else text[: _NAME_WIDTH - 1] + "~"


def _only(result: SizeResult) -> list[tuple[str, float | None]]:
    """(architecture, cost with its candidates alone): EP and AFD, then the others."""
    costs = {archspec.EP.name: result.ep_only_cost_per_hour}
    costs[archspec.AFD.name] = result.afd_only_cost_per_hour
    costs.update({a: c for a, c in result.only_costs.items() if a not in costs})
    return list(costs.items())


def plan_lines(plan: pd.DataFrame) -> list[str]:
    periods = "period" in plan.columns
    recs = report.records(plan)
    units = [
        c for c in _UNIT_COLUMNS if c in _ALWAYS_SHOWN or any(r.get(c) is not None for r in recs)
    ]
    head = [
        *(["period"] if periods else []),
        "workload",
        "arch",
        "hardware",
        *(_HEADERS[c] for c in units),
        "reps",
        "GPUs",
        "n/GPU",
        "tok/s",
        "TPOT ms",
        "$/h",
    ]
    rows = [head]
    for rec in recs:
        # A pool column only under its own architecture (a TP row's `nodes` is physical).
        own = (*archspec.get(rec["architecture"]).columns, archspec.UNIT_GPUS_COLUMN)
        rows.append(
            [
                *([str(rec["period"])] if periods else []),
                _name(rec["workload"]),
                rec["architecture"],
                _hardware_label(rec),
                *(_cell(rec.get(c), "{}") if c in own else "-" for c in units),
                _cell(rec["replicas"], "{}"),
                _cell(rec["gpus"], "{:,}"),
                _cell(rec["sequences_per_gpu"], "{}"),
                _cell(rec["tokens_per_s"], "{:,.0f}"),
                _cell(rec["tpot_ms"], "{:.1f}"),
                _cell(rec["cost_per_hour"], "{:,.2f}"),
            ]
        )
    first = 4 if periods else 3
    numeric = set(range(first, first + 6 + len(units)))
    return _columns(rows, right={0, *numeric} if periods else numeric)


def hardware_lines(hardware: pd.DataFrame) -> list[str]:
    rows = [["hardware", "GPUs", "inventory", "$/h", "shadow $/GPU-h"]]
    for rec in report.records(hardware):
        rows.append(
            [
                rec["hardware"],
                _cell(rec["gpus"], "{:,}"),
                "unlimited" if rec["inventory_gpus"] is None else f"{rec['inventory_gpus']:,}",
                _cell(rec["cost_per_hour"], "{:,.2f}"),
                _cell(rec["shadow_price_per_gpu_hour"], "{:.4f}"),
            ]
        )
    return _columns(rows, right={1, 2, 3, 4})


def to_table(result: SizeResult) -> str:
    lines = [
        f"fleet {result.fleet.name}: {result.status}, {_money(result.cost_per_hour)} "
        f"({', '.join(f'{archspec.label(a)} only {_money(c)}' for a, c in _only(result))})"
    ]
    if result.fleet.periods > 1:
        lines.append(_periods_line(result))
    if result.status == "infeasible" and len(result.plan):
        lines.append("plan with the missing GPUs bought (the fleet as given is infeasible):")
    if len(result.plan):
        lines += plan_lines(result.plan)
    lines.append("")
    lines += hardware_lines(result.hardware)
    for rec in report.records(result.shortages):
        who = f"{rec['workload']}: " if rec["workload"] else ""
        lines.append(f"shortage: {who}{rec['reason']}")
    return "\n".join(lines)


def _periods_line(result: SizeResult) -> str:
    fleet = result.fleet
    head = f"{fleet.periods} periods of {fleet.period_hours:g} h, price model {fleet.price_model}: "
    if result.cost_per_hour is None:
        return head + "no plan"
    hours = fleet.periods * fleet.period_hours
    what = (
        "$/h of the GPUs at their busiest period"
        if fleet.price_model == "peak"
        else "$/h averaged over the periods"
    )
    return head + f"{what}; ${result.cost_per_hour * hours:,.2f} over the {hours:g} h"


def render(result: SizeResult, fmt: str) -> str:
    """`table` (summary, plan, hardware, shortages), `csv` (the plan) or `json` (one object)."""
    if fmt == "json":
        return json.dumps(result.to_dict(), indent=2)
    if fmt == "csv":
        return report.to_csv(result.plan).rstrip("\n")
    return to_table(result)


def write_outputs(result: SizeResult, out_dir: str | Path, force: bool = False) -> list[Path]:
    """Write plan.csv, hardware.csv and plan.png into `out_dir`; refuse to overwrite unless forced.

    Raises:
        InputError: if any of the files exists and `force` is False.
    """
    out = check_out_dir(out_dir, "--out", FILES, force)
    paths = [out / name for name in FILES]
    for table, path in ((result.plan, paths[0]), (result.hardware, paths[1])):
        with replacing(path) as tmp:
            table.to_csv(tmp, index=False)
    plot_plan(result.plan, list(result.hardware["hardware"]), paths[2])
    return paths
