"""`sweep --report FILE.html`: the grid, the winner and each architecture's tokens/s per GPU at
every point, a chart over the first varied key (small multiples over the second), the inputs
and the command."""

from __future__ import annotations

from typing import Any

import pandas as pd

from formulations import archspec
from formulations.types import Instance
from solver import report
from solver.analysis.crossover import FEASIBLE, winner
from solver.analysis.sweep import Vary
from solver.report_html import chart, esc, inputs_html, pre, records_table, verdict_html, wrap
from solver.report_pages.charts import Series, arch_lines

SECTIONS = ("verdict", "grid", "results", "chart", "inputs", "command")
"""The sections of `sweep --report`, in order."""
MAX_PANELS = 6
"""Panels of the small multiples (values of the second key) drawn at most."""
OBJECTIVE_KEY = "search.objective"


def points(table: pd.DataFrame, keys: list[str]) -> list[dict[str, Any]]:
    """One dict per point, in sweep order: its parameter values (None: the instance's own),
    and per architecture its row (`rows`) and the point's winner."""
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    for rec in report.records(table):
        at = tuple(rec.get(k) for k in keys)
        point = found.setdefault(at, {"params": dict(zip(keys, at, strict=True)), "rows": {}})
        if rec.get("architecture") is not None:
            point["rows"][rec["architecture"]] = rec
    return list(found.values())


NO_WINNER = {"tie": "a tie", "none": "no deployment"}
"""`crossover.winner`'s answers that are no architecture, as a reader says them."""


def who(w: str) -> str:
    """An architecture's label, or what a tie or no deployment is called."""
    return NO_WINNER.get(w) or archspec.label(w)


def _winner(point: dict[str, Any], objective: str) -> str:
    objective = point["params"].get(OBJECTIVE_KEY) or objective
    scores = {
        a: r.get("objective") if r.get("status") in FEASIBLE else None
        for a, r in point["rows"].items()
    }
    return winner(scores, objective)


def _value(point: dict[str, Any], arch: str) -> float | None:
    row = point["rows"].get(arch, {})
    return row.get("tokens_per_s_per_gpu") if row.get("status") in FEASIBLE else None


def _series(pts: list[dict[str, Any]], key: str, archs: list[str]) -> Series:
    out: Series = {}
    for arch in archs:
        pairs = [(p["params"][key], _value(p, arch)) for p in pts]
        out[arch] = ([x for x, y in pairs if y is not None],
                     [float(y) for _, y in pairs if y is not None])  # fmt: skip
    return out


def _panels(
    pts: list[dict[str, Any]], varies: list[Vary], one_at_a_time: bool
) -> list[tuple[str, Vary, list[dict[str, Any]]]]:
    """(title, x key, points) of each panel."""
    keys = [v.key for v in varies]
    if one_at_a_time:  # each key alone: the other cells empty
        return [
            (v.key, v, [p for p in pts if all(p["params"][k] is None for k in keys if k != v.key)])
            for v in varies
        ]
    first = varies[0]
    if len(varies) == 1:
        return [(first.key, first, pts)]
    # The second key's values as panels, any further key at its first value.
    rest = {v.key: v.values[0] for v in varies[2:]}
    pts = [p for p in pts if all(p["params"][k] == x for k, x in rest.items())]
    second = varies[1]
    return [
        (f"{second.key} = {x}", first, [p for p in pts if p["params"][second.key] == x])
        for x in list(dict.fromkeys(second.values))[:MAX_PANELS]
    ]


def sweep_chart(pts: list[dict[str, Any]], varies: list[Vary], one_at_a_time: bool) -> str:
    import matplotlib.pyplot as plt

    archs = [a for a in archspec.NAMES if any(a in p["rows"] for p in pts)]
    panels = _panels(pts, varies, one_at_a_time)
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(min(10, 4 * cols), 3.3 * rows), squeeze=False, sharey=True
    )
    for ax, (title, vary, shown) in zip(axes.flat, panels, strict=False):
        arch_lines(ax, _series(shown, vary.key, archs), list(dict.fromkeys(vary.values)), vary.log)
        ax.set_xlabel(vary.key)
        ax.set_ylabel("tokens/s per GPU")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    fig.tight_layout()
    over = "each key alone" if one_at_a_time else f"over {varies[0].key}"
    if len(varies) > 1 and not one_at_a_time:
        over += f", one panel per value of {varies[1].key}"
        if len(varies) > 2:
            over += " (further keys at their first value)"
    return chart(
        fig,
        "tokens/s per GPU per architecture",
        f"Best tokens/s per GPU {over}; a missing point is infeasible or failed.",
    )


def _columns(keys: list[str], archs: list[str]) -> tuple[tuple[str, str, str], ...]:
    per_arch = tuple(
        col
        for a in archs
        for col in (
            (f"{a}:tps", f"{archspec.label(a)} tokens/s per GPU", "{:,.0f}"),
            (f"{a}:gpus", f"{archspec.label(a)} GPUs", "{:.0f}"),
        )
    )
    return (*((k, k, "{}") for k in keys), ("winner", "winner", "{}"), *per_arch)


def sweep_page(
    inst: Instance, table: pd.DataFrame, varies: list[Vary], one_at_a_time: bool, command: str
) -> str:
    """The HTML page of one sweep (`table`: the sweep's results, one row per point and
    architecture; `inst`: the instance with the `--set` overrides)."""
    keys = [v.key for v in varies]
    pts = points(table, keys)
    archs = [a for a in archspec.NAMES if any(a in p["rows"] for p in pts)]
    recs = []
    wins: dict[str, int] = {}
    for p in pts:
        w = _winner(p, inst.search.objective)
        wins[w] = wins.get(w, 0) + 1
        cells: dict[str, Any] = {**p["params"], "winner": who(w)}
        for a in archs:
            cells[f"{a}:tps"] = _value(p, a)
            feasible = _value(p, a) is not None
            cells[f"{a}:gpus"] = p["rows"].get(a, {}).get("gpus") if feasible else None
        recs.append(cells)
    failed = int((table["status"] == "error").sum()) if "status" in table else 0
    lines = [
        f"{who(w)} {'at' if w in NO_WINNER else 'wins at'} {n} of {len(pts)} points"
        for w, n in sorted(wins.items(), key=lambda kv: -kv[1])
    ] + ([f"{failed} rows failed (status error)"] if failed else [])
    grid = "".join(
        f"<li><code>{esc(v.key)}</code>: {esc(', '.join(map(str, v.values)))}"
        f"{' (log scale)' if v.log else ''}</li>"
        for v in varies
    )
    form = "each key alone around the instance's values" if one_at_a_time else "full grid"
    note = "<p>'-' in a parameter column: the instance's own value.</p>" if one_at_a_time else ""
    return wrap(
        "afd-solver sweep",
        inst.name,
        {
            "verdict": ("Who wins where", verdict_html(lines)),
            "grid": (
                "The grid",
                f"<p>{len(pts)} points, {esc(form)}:</p><ul>{grid}</ul>",
            ),
            "results": (
                "Results (the best deployment of each architecture at every point)",
                records_table(recs, _columns(keys, archs)) + note,
            ),
            "chart": ("Tokens/s per GPU over the varied parameter", sweep_chart(
                pts, varies, one_at_a_time)),
            "inputs": ("Inputs and assumptions (the instance before the sweep's values)",
                       inputs_html(inst)),
            "command": ("Produced by", pre(command)),
        },
    )  # fmt: skip
