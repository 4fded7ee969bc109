"""`crossover --report FILE.html`: the bracket of every change of winner (or who wins
everywhere), each architecture's optimum over the range with the crossovers marked, every
evaluated value, the inputs and the command."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from formulations import archspec
from formulations.types import Instance
from solver.analysis.crossover import Crossover, describe, winner
from solver.report_html import chart, esc, inputs_html, pre, records_table, verdict_html, wrap
from solver.report_pages.charts import Series, arch_lines
from solver.report_pages.sweep import who

SECTIONS = ("verdict", "brackets", "chart", "evaluations", "inputs", "command")
"""The sections of `crossover --report`, in order."""

_BRACKETS = (
    ("lower", "from", "{:.6g}"),
    ("upper", "to", "{:.6g}"),
    ("below", "winner below", "{}"),
    ("above", "winner above", "{}"),
)


def _what(result: Crossover) -> str:
    return "GPUs (fewer win)" if result.objective == "min_gpus" else "tokens/s per GPU"


def crossover_chart(result: Crossover) -> str:
    import matplotlib.pyplot as plt

    xs = sorted(result.evaluations)
    archs = [a for a in archspec.NAMES if any(a in result.evaluations[x] for x in xs)]
    series: Series = {}
    for arch in archs:
        kept = [(x, result.evaluations[x].get(arch)) for x in xs]
        series[arch] = ([x for x, y in kept if y is not None],
                        [float(y) for _, y in kept if y is not None])  # fmt: skip
    fig, ax = plt.subplots(figsize=(8, 3.8))
    arch_lines(ax, series)
    for i, c in enumerate(result.crossings):
        # A bracket is often narrower than a pixel: shade it and draw its middle.
        ax.axvspan(c.lower, c.upper, color="tab:red", alpha=0.15)
        ax.axvline((c.lower + c.upper) / 2, color="tab:red", linestyle="--", linewidth=1,
                   label="crossover" if i == 0 else None)  # fmt: skip
    ax.set_xlabel(result.key)
    ax.set_ylabel(_what(result))
    ax.legend(fontsize=8)
    fig.tight_layout()
    marks = "the red dashed lines mark the crossovers" if result.crossings else "no crossover"
    return chart(
        fig,
        "each architecture's optimum over the range",
        f"Each architecture's optimum at every evaluated value of {result.key} (grid and "
        f"bisection points; a gap is infeasible); {marks}.",
    )


def crossover_page(inst: Instance, result: Crossover, command: str) -> str:
    """The HTML page of one crossover search (`inst`: the instance with the `--set`
    overrides, before the varied value)."""
    lines = [line.strip() for line in describe(result).splitlines()]
    brackets = [
        {**asdict(c), "below": who(c.winner_below), "above": who(c.winner_above)}
        for c in result.crossings
    ]
    if brackets:
        found = records_table(brackets, _BRACKETS)
    else:
        found = f"<p>No change of winner in [{result.lo:g}, {result.hi:g}].</p>"
    archs = [a for a in archspec.NAMES if any(a in v for v in result.evaluations.values())]
    columns = (
        ("x", result.key, "{:.6g}"),
        *((a, f"{archspec.label(a)} {_what(result)}", "{:,.0f}") for a in archs),
        ("winner", "winner", "{}"),
    )
    evaluated: list[dict[str, Any]] = [
        {"x": x, **v, "winner": who(winner(v, result.objective))}
        for x, v in sorted(result.evaluations.items())
    ]
    return wrap(
        "afd-solver crossover",
        inst.name,
        {
            "verdict": ("Where the winner changes", verdict_html(lines)),
            "brackets": ("Brackets of every change of winner", found),
            "chart": ("Each architecture's optimum over the range", crossover_chart(result)),
            "evaluations": (
                f"Every evaluated value ({result.solves} solves of every architecture)",
                records_table(evaluated, columns),
            ),
            "inputs": (
                f"Inputs and assumptions (the instance before {esc(result.key)} is varied)",
                inputs_html(inst),
            ),
            "command": ("Produced by", pre(command)),
        },
    )
