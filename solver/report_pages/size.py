"""`size --report FILE.html`: the fleet's verdict (status, cost per hour, the gap when the
sizing reports one, each architecture alone), the plan, the hardware used, shortages, shadow
prices, a chart of the plan and of the costs, the fleet's inputs and the command.

The page reads the `SizeResult` only (tables by their columns, the verdict from `to_dict()`),
so columns or fields that fleet sizing appends show up without a change here; it draws its own
chart from the plan table rather than `solver.sizing.output.plot_plan`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from formulations import archspec
from solver import columns, report
from solver.report_html import chart, esc, pre, records_table, verdict_html, wrap, write_page
from solver.sizing.size import SizeResult

SECTIONS = (
    "verdict", "plan", "chart", "hardware", "shortages", "prices", "inputs", "command",
)  # fmt: skip
"""The sections of `size --report`, in order."""

_FORMATS = {"cost_per_hour": "{:,.2f}", "shadow_price_per_gpu_hour": "{:.4f}"}
_HEADERS = {
    "cost_per_hour": "$/h",
    "inventory_gpus": "inventory GPUs",
    "shadow_price_per_gpu_hour": "shadow $/GPU-h",
    "attention_hardware": "attention hardware",
    "ffn_hardware": "FFN hardware",
    "workload": "workload",
    "replicas": "replicas",
    "missing_gpus": "missing GPUs",
}


def _money(value: float | None) -> str:
    return "none (infeasible)" if value is None else f"${value:,.2f}/h"


def frame_table(df: pd.DataFrame) -> str:
    """Every column of `df`, headed and formatted as `solver.columns` declares (architectures
    by their labels, an unlimited inventory as such)."""
    recs = report.records(df)
    for r in recs:
        if "architecture" in r:
            r["architecture"] = archspec.label(r["architecture"])
        if "inventory_gpus" in r and r["inventory_gpus"] is None:
            r["inventory_gpus"] = "unlimited"
    cols = []
    for name in df.columns:
        known = columns.BY_NAME.get(name)
        header = _HEADERS.get(name) or (known.header if known and known.header else name)
        fmt = _FORMATS.get(name) or (known.fmt if known else "{}")
        cols.append((name, header, "{:,.0f}" if fmt == "{:.0f}" else fmt))
    return records_table(recs, tuple(cols))


def _row_label(rec: dict[str, Any]) -> str:
    a, f = rec.get("attention_hardware"), rec.get("ffn_hardware")
    hw = a if a == f or f is None else f"{a}+{f}"
    return f"{rec.get('workload')} on {hw}"


def _only_costs(result: SizeResult) -> dict[str, float | None]:
    """Each architecture's cost with its candidates alone (from the JSON object's keys)."""
    found = result.to_dict()
    return {a: found.get(f"{a}_only_cost_per_hour") for a in archspec.NAMES
            if f"{a}_only_cost_per_hour" in found}  # fmt: skip


def size_chart(result: SizeResult) -> str:
    """GPUs of every plan row in its architecture's colour; the plan's cost beside each
    architecture's alone."""
    import matplotlib.pyplot as plt

    recs = report.records(result.plan)
    fig, (ax1, ax2) = plt.subplots(
        1, 2, figsize=(10, max(3.2, 0.45 * len(recs) + 1.5)), width_ratios=(3, 2)
    )
    labels = [_row_label(r) for r in recs][::-1]
    gpus = [float(r.get("gpus") or 0) for r in recs][::-1]
    colours = [archspec.get(str(r["architecture"])).colour for r in recs][::-1]
    ax1.barh(range(len(recs)), gpus, color=colours)
    ax1.set_yticks(range(len(recs)), labels, fontsize=8)
    for i, r in enumerate(recs[::-1]):
        ax1.annotate(f" {archspec.label(r['architecture'])} x{r.get('replicas')}", (gpus[i], i),
                     va="center", fontsize=7)  # fmt: skip
    ax1.set_xlabel("GPUs")
    ax1.margins(x=0.15)  # room for the replica labels
    ax1.set_title("the plan: GPUs per row", fontsize=10)
    only = _only_costs(result)
    names = ["plan", *(f"{archspec.label(a)} only" for a in only)]
    costs = [result.cost_per_hour, *only.values()]
    ax2.bar(
        range(len(names)),
        [c or 0.0 for c in costs],
        color=["dimgray", *(archspec.get(a).colour for a in only)],
    )
    for i, c in enumerate(costs):
        ax2.annotate("infeasible" if c is None else f"${c:,.0f}", (i, c or 0.0),
                     ha="center", va="bottom", fontsize=8)  # fmt: skip
    if all(c is None for c in costs):  # nothing to scale: labels only
        ax2.set_ylim(0, 1)
        ax2.set_yticks([])
    ax2.set_xticks(range(len(names)), names, fontsize=8)
    ax2.set_ylabel("$ per hour")
    ax2.set_title("cost: the plan, each architecture alone", fontsize=10)
    ax2.margins(y=0.12)  # room for the labels above the bars
    fig.tight_layout()
    return chart(
        fig,
        "fleet plan and costs",
        "Left: the GPUs of each plan row (workload on its hardware), in its architecture's "
        "colour, with its replicas. Right: the plan's cost per hour beside the cheapest plan "
        "with each architecture alone.",
    )


def _verdict(result: SizeResult) -> list[str]:
    found = result.to_dict()
    cost = result.cost_per_hour
    lines = [
        f"fleet {result.fleet.name}: {result.status}, "
        + ("no plan within the inventories" if cost is None else _money(cost))
    ]
    gaps = {k: v for k, v in found.items() if "gap" in k and isinstance(v, int | float)}
    lines += [f"{k.replace('_', ' ')}: {v:.4g}" for k, v in gaps.items()]
    lines.append(", ".join(f"{archspec.label(a)} only {_money(c)}"
                           for a, c in _only_costs(result).items()))  # fmt: skip
    if result.status == "infeasible" and len(result.plan):
        lines.append("the plan buys the missing GPUs: the fleet as given is infeasible")
    return lines


def _inputs(result: SizeResult) -> str:
    fleet = result.fleet

    def pairs(d: dict[str, Any]) -> str:
        return ", ".join(f"{k} = {v}" for k, v in d.items())

    workloads = "".join(
        f"<tr><th>{esc(w.name)}</th><td>{esc(w.model)}</td><td>{esc(pairs(w.raw))}</td></tr>"
        for w in fleet.workloads
    )
    hardware = "".join(
        f"<tr><th>{esc(h.name)}</th><td>${h.price_per_gpu_hour:,.2f}/GPU-h</td><td>"
        f"{'unlimited' if h.inventory_gpus is None else f'{h.inventory_gpus:,} GPUs'}</td>"
        f"<td>{esc(h.profile)} profile</td></tr>"
        for h in fleet.hardware
    )
    return (
        f"<p>Fleet file <code>{esc(fleet.path)}</code>.</p>"
        f"<table><thead><tr><th>workload</th><th>model</th><th>as written</th></tr></thead>"
        f"<tbody>{workloads}</tbody></table>"
        f"<table><thead><tr><th>hardware</th><th>price</th><th>inventory</th><th>profile</th>"
        f"</tr></thead><tbody>{hardware}</tbody></table>"
        f"<p>Search, for every workload: <code>{esc(pairs(fleet.search))}</code>.</p>"
        "<p>Each workload's candidates are every deployment of the search ranges that no other "
        "beats on tokens/s with no more GPUs of each pool, on every hardware pairing and "
        "architecture (docs/model.md §18.1); the fleet program buys replicas that meet every "
        "demand at the least price per hour within every inventory.</p>"
    )


def size_page(result: SizeResult, command: str) -> str:
    """The HTML page of one `size` run."""
    if len(result.shortages):
        shortages = frame_table(result.shortages)
    else:
        shortages = "<p>None: every demand is met within every inventory.</p>"
    prices = (
        "<p>What one more node of a hardware's inventory saves per hour, per GPU of that node "
        "(found by solving the fleet again with it; 0: the inventory does not bind; '-': "
        "unlimited hardware, or no plan within the inventories):</p>"
        + frame_table(result.hardware[["hardware", "shadow_price_per_gpu_hour"]])
    )
    plan = frame_table(result.plan) if len(result.plan) else "<p>No plan.</p>"
    return wrap(
        "afd-solver fleet",
        result.fleet.name,
        {
            "verdict": ("Verdict", verdict_html(_verdict(result))),
            "plan": ("The plan (replicas of each deployment per workload)", plan),
            "chart": ("The plan and its cost", size_chart(result)),
            "hardware": ("Hardware used", frame_table(result.hardware)),
            "shortages": ("Shortages", shortages),
            "prices": ("Shadow prices of the inventories", prices),
            "inputs": ("Inputs", _inputs(result)),
            "command": ("Produced by", pre(command)),
        },
    )


def write(path: Path | None, result: SizeResult, command: str) -> None:
    """`size --report`: write the page when asked (`path` checked before the sizing)."""
    if path is not None:
        write_page(path, size_page(result, command))
