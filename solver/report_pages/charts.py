"""Charts shared by the report pages: one line per architecture in its own colour."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from formulations import archspec

Series = dict[str, tuple[list[Any], list[float]]]
"""Per architecture: x values and the y value at each (infeasible points left out)."""


def numeric(values: Sequence[Any]) -> bool:
    """Whether every value is a number (else the axis is categorical, in the given order)."""
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def arch_lines(ax: Any, series: Series, order: Sequence[Any] = (), log: bool = False) -> None:
    """Draw each architecture's series; categorical x values are placed by `order`."""
    positions = {v: i for i, v in enumerate(order)}
    categorical = not numeric([x for xs, _ in series.values() for x in xs])
    for arch, (xs, ys) in series.items():
        if not xs:
            continue
        spec = archspec.get(arch)
        at = [positions[x] for x in xs] if categorical else xs
        ax.plot(at, ys, marker="o", markersize=4, linewidth=2, color=spec.colour,
                label=spec.label)  # fmt: skip
    if categorical:
        ax.set_xticks(range(len(order)), [str(v) for v in order])
    elif log:
        ax.set_xscale("log")
    ax.grid(True, alpha=0.3)
