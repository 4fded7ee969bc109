"""Shadow prices of an optimum: solve the LP with integers fixed and price each resource."""

from __future__ import annotations

import time
from typing import Any

from formulations import sensitivity as sens
from formulations.types import Deployment, Instance
from solver.backends import make_backend

SHADOW_COLUMNS = tuple(f"shadow_{r}" for r in sens.RESOURCES) + ("lp_binding",)
"""Extra result columns (only with --shadow-prices): tokens/s/GPU per GB/s, GB, TB/s, ms."""

MIN_LP_S = 1.0
"""The shadow LP has two or three variables; it gets at least this long even at a deadline."""


def shadow_cells(
    inst: Instance, d: Deployment | None, eps: float = 1.0, deadline: float | None = None
) -> dict[str, Any]:
    """The shadow-price columns for deployment `d` (None when there is no deployment)."""
    cells: dict[str, Any] = {c: None for c in SHADOW_COLUMNS}
    if d is None:
        return cells
    lm = sens.linear_model(inst, d, eps)
    backend = make_backend("highs")
    if not backend.capabilities.duals:
        return cells
    left = MIN_LP_S if deadline is None else max(deadline - time.perf_counter(), MIN_LP_S)
    sol = backend.solve(sens.to_program(lm), left)
    if not sol.has_values or not sol.duals:
        return cells
    values = dict(zip(lm.variables, sol.values, strict=True))
    prices = sens.shadow_prices(inst, d, values, sol.duals, eps=eps)
    cells.update({f"shadow_{k}": v for k, v in prices.items()})
    binding = [row.label for row, pi in zip(lm.rows, sol.duals, strict=True) if pi > 1e-12]
    cells["lp_binding"] = "+".join(b for b in dict.fromkeys(binding) if b != "pace") or None
    return cells
