"""The one order of deployments every backend and command follows (docs/model.md §11.10).

Two deployments whose objective values differ by at most `SAME` relative are equal optima; among
equal optima the smallest deployment wins:

    1. fewer GPUs;
    2. fewer deployment units in all (then fewer serving units);
    3. fewer micro-batches;
    4. fewer redundant experts;
    5. more sequences per GPU (the batch the deployment can hold at that pace);
    6. the pool units in the architecture's pool order (smaller first).

Every place that keeps a best deployment (the enumeration oracle, the own-pace levels and their
candidates, the pairing branches, the TPOT frontier) asks `better`, so the same instance gives
the same deployment whatever the backend.
"""

from __future__ import annotations

import numpy as np

from formulations.types import Deployment

SAME = 1e-9
"""Relative difference of two objective values below which they are equal optima."""


def same(a: float, b: float) -> bool:
    """a and b are equal up to `SAME` relative (one float rounding is not a better optimum)."""
    return abs(a - b) <= SAME * max(abs(a), abs(b))


def key(d: Deployment, unit_gpus: int) -> tuple[int, ...]:
    """The order among equal optima (module docstring): smaller is preferred."""
    return (
        d.gpus(unit_gpus),
        d.total_units,
        d.serving_units,
        d.micro_batches,
        d.redundant,
        -d.sequences_per_gpu,
        *(u for _, u in d.nodes),
    )


def better(
    value: float, d: Deployment, old_value: float, old: Deployment, unit_gpus: int, maximize: bool
) -> bool:
    """Whether (value, d) beats (old_value, old): a better objective, or an equal one and a
    smaller deployment."""
    if not same(value, old_value):
        return value > old_value if maximize else value < old_value
    return key(d, unit_gpus) < key(old, unit_gpus)


def pick(values: np.ndarray, keys: list[np.ndarray], maximize: bool = True) -> int:
    """Index of the best entry of `values` (finite ones only; -1 if none): the best objective up
    to `SAME`, then the smallest `keys` in order (each an array like `values`)."""
    finite = np.isfinite(values)
    if not finite.any():
        return -1
    top = float(values[finite].max() if maximize else values[finite].min())
    tie = finite & (np.abs(values - top) <= SAME * np.maximum(np.abs(values), abs(top)))
    idx = np.flatnonzero(tie)
    if len(idx) == 1:
        return int(idx[0])
    order = np.lexsort([k[idx] for k in reversed(keys)])
    return int(idx[order[0]])
