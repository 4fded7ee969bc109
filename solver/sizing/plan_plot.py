"""plan.png of `size --out`: GPUs per hardware by workload and architecture, or over the periods.

Each plan row's GPUs are drawn on the hardware they run on: a deployment whose
pools run on two hardware puts its serving pool's share on the first and the
rest on the second, split like the candidates (`solver.sizing.candidates`: by
the pools' units), so the bars add up to hardware.csv's GPUs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from formulations import archspec
from solver import report
from solver.io.outputs import save_figure

_LEGEND = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "fontsize": 8, "frameon": False}
"""Legends sit right of the axes: inside they cover the tallest bars."""


def row_gpus(rec: dict[str, Any]) -> dict[str, int]:
    """GPUs of one plan row per hardware: the serving pool's units' share on its hardware."""
    spec = archspec.get(rec["architecture"])
    units = [int(rec.get(p.column) or 0) for p in spec.pools]
    gpus = int(rec["gpus"])
    replicas = max(int(rec["replicas"] or 1), 1)
    serving = gpus // replicas * units[0] // sum(units) * replicas if sum(units) else gpus
    out = {rec["attention_hardware"]: serving}
    out[rec["ffn_hardware"]] = out.get(rec["ffn_hardware"], 0) + gpus - serving
    return out


def _figure(hardware: list[str], bars: int) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(max(6.0, 0.35 * bars + 4.5), 4.2))


def _save(fig: Any, ax: Any, title: str, path: Path | Any) -> None:
    import matplotlib.pyplot as plt

    ax.set_title(title, fontsize=10, loc="left", wrap=True)
    ax.set_ylabel("GPUs")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def plot_plan(plan: pd.DataFrame, hardware: list[str], path: Path | Any) -> None:
    """Stacked bars: GPUs per hardware, one bar per architecture, one colour per workload;
    with a `period` column, GPUs in use per hardware in every period."""
    if "period" in plan.columns:
        plot_periods(plan, hardware, path)
        return
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    archs = list(archspec.NAMES)
    records = report.records(plan)
    workloads = list(dict.fromkeys(r["workload"] for r in records))
    heights: dict[tuple[str, str, str], int] = {}
    for r in records:
        for hw, n in row_gpus(r).items():
            key = (hw, r["architecture"], r["workload"])
            heights[key] = heights.get(key, 0) + n
    colours = plt.get_cmap("tab20")
    fig, ax = _figure(hardware, len(hardware) * 3)
    width = 0.76 / len(archs)
    for h_index, hw in enumerate(hardware):
        for a_index, arch in enumerate(archs):
            x = h_index + (a_index - (len(archs) - 1) / 2) * width
            bottom = 0
            for w_index, w in enumerate(workloads):
                gpus = heights.get((hw, arch, w), 0)
                if gpus <= 0:
                    continue
                ax.bar(
                    x,
                    gpus,
                    width,
                    bottom=bottom,
                    color=colours(w_index % 20),
                    hatch=archspec.get(arch).hatch,
                    edgecolor="black",
                    linewidth=0.5,
                )
                bottom += gpus
    ax.set_xticks(range(len(hardware)), hardware)
    handles = [Patch(facecolor=colours(i % 20), label=w) for i, w in enumerate(workloads)]
    handles += [
        Patch(facecolor="white", edgecolor="black", hatch=archspec.get(a).hatch, label=a_label)
        for a, a_label in ((a, archspec.label(a)) for a in archs)
    ]
    ax.legend(handles=handles, **_LEGEND)
    order = ", ".join(map(archspec.label, archs))
    _save(fig, ax, f"fleet plan: GPUs per hardware\n(bars left to right: {order})", path)


def plot_periods(plan: pd.DataFrame, hardware: list[str], path: Path | Any) -> None:
    """Stacked bars per period: the GPUs of every hardware in use (docs/model.md §18.6)."""
    import matplotlib.pyplot as plt

    periods = int(plan["period"].max()) if len(plan) else 1
    used = {hw: [0] * periods for hw in hardware}
    for r in report.records(plan):
        for hw, n in row_gpus(r).items():
            used.setdefault(hw, [0] * periods)[int(r["period"]) - 1] += n
    fig, ax = _figure(hardware, min(periods, 48))
    colours = plt.get_cmap("tab10")
    bottom = [0] * periods
    xs = range(1, periods + 1)
    for i, (hw, gpus) in enumerate(used.items()):
        ax.bar(xs, gpus, 0.8, bottom=bottom, color=colours(i % 10), label=hw, linewidth=0)
        bottom = [b + g for b, g in zip(bottom, gpus, strict=True)]
    ax.set_xlabel("period")
    ax.legend(**_LEGEND)
    _save(fig, ax, "fleet plan: GPUs in use per hardware in every period", path)
