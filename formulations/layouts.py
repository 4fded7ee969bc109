"""Layouts and their integer capacity caps: the coefficients of the integer programs.

A *layout* fixes everything about a deployment that the programs encode by one-hot selection:
the micro-batch count N_BO, the expert units (AFD: N_F; EP: N), the redundant replicas R and,
on a superpod, whether the deployment stays inside one scale-up domain. Every ceiling, minimum
and ratio of the cost model (G = ceil((E+R)/GPUs), the fan-out D, the imbalance of the layout's
expert ranks) is then a constant, which is how the programs linearise them exactly
(docs/model.md §11). What remains free on a layout: the serving units a (AFD: N_A in
[serving_lo, serving_hi]; EP: N, fixed) and the batch.

For each layout and constraint family, `max_feasible_int` finds the largest whole value of the
family's batch quantity (formulations.families: b, n, S = a b or T = a n) for which the family
holds, by bisection on the very functions the forward model uses. The caps are exact: a
deployment satisfies a family iff its batch quantity is at most the cap, because every stage time
and memory figure grows with it. Memory caps do not depend on the TPOT target; time caps are
computed for a stage budget, which is what the stage-level scheme varies (docs/model.md §12).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from formulations import archspec, families
from formulations.deadline import Check, given
from formulations.types import Deployment, IntRange

ImbalanceFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(expert ranks, redundant replicas) -> max/mean load of the hottest rank."""

# Relative slack for "time <= budget" and "bytes <= capacity": one rounding error of float64
# must not flip a boundary deployment between the programs and the forward model.
REL_TOL = 1e-9


def constant_imbalance(eps: float) -> ImbalanceFn:
    """The same max/mean load for every layout."""

    def fn(ranks: np.ndarray, redundant: np.ndarray) -> np.ndarray:
        return np.full(np.broadcast(ranks, redundant).shape, float(eps))

    return fn


def fits(value: np.ndarray | float, limit: np.ndarray | float) -> np.ndarray:
    """value <= limit up to float rounding."""
    return np.asarray(value) <= np.asarray(limit) * (1.0 + REL_TOL)


Usable = Callable[[str], float]
"""Usable HBM per GPU of one side of a deployment (CostModel.usable_bytes)."""


def holds(kind: str, value: np.ndarray, budget_s: np.ndarray | float, usable: float) -> np.ndarray:
    """A family of `kind` holds: a time within a positive stage budget, or bytes within HBM."""
    if kind == "memory":
        return fits(value, usable)
    budget = np.asarray(budget_s, dtype=float)
    return (budget > 0) & fits(value, budget)


def family_checks(arch_name: str, cm: Any, s: Any) -> dict[str, np.ndarray]:
    """One boolean array per constraint family of `arch_name` (True = holds) for stages `s`
    (an architecture's Stages: its family fields and `budget_s`) under cost model `cm`."""
    return {
        f.name: holds(f.kind, getattr(s, f.field), s.budget_s, cm.usable_bytes(f.side))
        for f in families.of(arch_name)
    }


def pack_stages(
    cls: Any, cm: Any, micro_batches: Any, micro: Any, inside: Any, fields: dict[str, Any]
) -> Any:
    """An architecture's Stages from its family fields, all broadcast to one shape, with the
    stage budget of each micro-batch count, the micro-batch size and the domain flag."""
    arrays = np.broadcast_arrays(
        cm.stage_budget_s(micro_batches), micro, inside, *(np.asarray(v) for v in fields.values())
    )
    names = ["budget_s", "micro_batch_size", "in_domain", *fields]
    return cls(**dict(zip(names, arrays, strict=True)))


def max_feasible_int(
    ok: Callable[[np.ndarray], np.ndarray],
    lo: np.ndarray | int,
    hi: np.ndarray | int,
    check: Check | None = None,
) -> np.ndarray:
    """Largest integer x in [lo, hi] with ok(x), element-wise; lo - 1 where ok(lo) fails.

    `ok` must be monotone (True up to some point, then False) and vectorised:
    it receives one candidate per element. `check` is called once per bisection step (each
    step is one pass over every element).
    """
    check = given(check)
    lo = np.asarray(lo, dtype=np.int64).copy()
    hi = np.broadcast_to(np.asarray(hi, dtype=np.int64), lo.shape).copy()
    good = ok(lo)
    result = np.where(good, lo, lo - 1)
    low, high = lo.copy(), np.where(good, hi, lo)
    while True:
        check()
        active = low < high
        if not active.any():
            break
        mid = (low + high + 1) // 2
        passed = ok(mid)
        low = np.where(active & passed, mid, low)
        high = np.where(active & ~passed, mid - 1, high)
    return np.where(good, low, result)


@dataclass(frozen=True)
class Layouts:
    """Candidate layouts of one architecture and micro-batch count (arrays indexed by layout)."""

    architecture: str
    micro_batches: int
    sequences: IntRange
    """The search range of n (every sequence in flight on one serving GPU)."""
    ffn_units: np.ndarray
    """Units that hold experts only (AFD N_F; 0 for EP)."""
    expert_units: np.ndarray
    """Units whose GPUs are the expert ranks (AFD N_F; EP N)."""
    serving_lo: np.ndarray
    """Fewest serving units (AFD N_A; EP N): search limit, superpod domain."""
    serving_hi: np.ndarray
    """Most serving units: search limit, GPU cap, superpod domain."""
    redundant: np.ndarray
    in_domain: np.ndarray
    experts_per_gpu: np.ndarray
    eps: np.ndarray
    caps: dict[str, np.ndarray] = field(default_factory=dict)
    """Per family: the largest value of its batch quantity that holds."""
    budget_s: float | None = None
    """The stage budget the time caps were computed for (None: none yet)."""
    unit_gpus: int | None = None
    """GPUs per unit where the architecture sizes its own unit (TP's t; None: the search's)."""

    def __len__(self) -> int:
        return len(self.ffn_units)

    @property
    def micro_lo(self) -> int:
        """Smallest micro-batch size: ceil(n_lo / N_BO)."""
        return -(-self.sequences.lo // self.micro_batches)

    @property
    def micro_hi(self) -> int:
        return -(-self.sequences.hi // self.micro_batches)

    def cap(self, batch: str) -> np.ndarray:
        """The binding cap on one batch quantity: the minimum over its families (none: the
        search bound)."""
        values = [
            self.caps[f.name]
            for f in families.of(self.architecture)
            if f.batch == batch and f.name in self.caps
        ]
        return np.minimum.reduce(values) if values else search_top(self, batch)

    def take(self, keep: np.ndarray) -> Layouts:
        arrays = {k: getattr(self, k)[keep] for k in LAYOUT_ARRAYS}
        return replace(self, caps={k: v[keep] for k, v in self.caps.items()}, **arrays)

    def best_sequences(self, serving: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        """n*(a): the most sequences per serving GPU a layout allows with `serving` units;
        below sequences.lo where none fits.

        Without `idx`, `serving` has shape (layouts,) or (layouts, k); with `idx`, entry i is
        layout idx[i] with serving[i] units. n <= n-cap, b = ceil(n / N_BO) <= b-cap,
        a b <= S-cap, a n <= T-cap and n <= n_hi.
        """
        a = np.maximum(np.asarray(serving, dtype=np.int64), 1)
        shape = (-1,) + (1,) * (a.ndim - 1)

        def cap(batch: str) -> np.ndarray:
            values = self.cap(batch)
            return values[idx] if idx is not None else values.reshape(shape)

        micro = np.minimum(cap("micro_batch"), cap("pool_micro") // a)
        best = np.minimum(cap("sequences"), self.micro_batches * micro)
        best = np.minimum(best, cap("pool_sequences") // a)
        return np.minimum(best, self.sequences.hi)

    def viable(self) -> np.ndarray:
        """Layouts that host at least the smallest deployment (n_lo on serving_lo units)."""
        n_lo = self.sequences.lo
        best = self.best_sequences(self.serving_lo)
        return (self.serving_lo <= self.serving_hi) & (best >= n_lo)


LAYOUT_ARRAYS = (
    "ffn_units",
    "expert_units",
    "serving_lo",
    "serving_hi",
    "redundant",
    "in_domain",
    "experts_per_gpu",
    "eps",
)
"""The per-layout arrays of `Layouts` (what `take` selects and `concat` joins)."""


def concat(layouts: list[Layouts]) -> Layouts:
    """One Layouts of several of one architecture and micro-batch count (their caps dropped)."""
    first = layouts[0]
    assert all(
        (lay.architecture, lay.micro_batches) == (first.architecture, first.micro_batches)
        for lay in layouts
    )
    arrays: dict[str, Any] = {
        k: np.concatenate([getattr(lay, k) for lay in layouts]) for k in LAYOUT_ARRAYS
    }
    return replace(first, caps={}, budget_s=None, **arrays)


def search_top(lay: Layouts, batch: str) -> np.ndarray:
    """Upper search bound of one batch quantity per layout (what a cap can be at most)."""
    top = {
        "micro_batch": lay.micro_hi,
        "sequences": lay.sequences.hi,
        "pool_micro": lay.micro_hi,
        "pool_sequences": lay.sequences.hi,
    }[batch]
    if batch in ("pool_micro", "pool_sequences"):
        return np.maximum(lay.serving_hi, 0).astype(np.int64) * top
    return np.full(len(lay), top, dtype=np.int64)


QuantityFn = Callable[[Layouts, families.Family, np.ndarray], np.ndarray]
"""(layouts, family, batch values per layout) -> the family's quantity per layout."""


def with_caps(
    lay: Layouts,
    quantity: QuantityFn,
    kind: str,
    budget_s: float,
    usable: Usable,
    check: Check | None = None,
) -> Layouts:
    """`lay` with the caps of every family of `kind` ("time" at `budget_s`, or "memory");
    `check` is called once per bisection step."""
    caps = dict(lay.caps)
    for fam in families.of(lay.architecture):
        if fam.kind != kind:
            continue

        def ok(x: np.ndarray, fam: families.Family = fam) -> np.ndarray:
            return holds(fam.kind, quantity(lay, fam, x), budget_s, usable(fam.side))

        zero = np.zeros(len(lay), dtype=np.int64)
        caps[fam.name] = max_feasible_int(ok, zero, search_top(lay, fam.batch), check)
    out = replace(lay, caps=caps)
    return replace(out, budget_s=float(budget_s)) if kind == "time" else out


def layout_eps(imbalance: ImbalanceFn, d: Deployment, unit_gpus: int) -> float:
    """Max/mean expert load of deployment d's expert ranks (FFN GPUs for AFD, all GPUs for EP;
    1 where every GPU holds a slice of every expert, TP: docs/model.md §20.1)."""
    spec = archspec.get(d.architecture)
    if not spec.expert_ranks:
        return 1.0
    units = d.pool(spec.expert_pool.name)
    return float(imbalance(np.array([units * unit_gpus]), np.array([d.redundant]))[0])


def real_caps(
    lay: Layouts, quantity: QuantityFn, budget_s: float, usable: Usable, batch: str
) -> np.ndarray:
    """The largest real value of a pool batch quantity (S or T) every family of that batch
    allows, per layout, by float bisection (for the fractional-unit relaxation, §8)."""
    top = search_top(lay, batch).astype(float)
    low = np.zeros(len(lay))
    high = top.copy()
    names = [f for f in families.of(lay.architecture) if f.batch == batch]

    def ok(x: np.ndarray) -> np.ndarray:
        good = np.ones(len(lay), dtype=bool)
        for fam in names:
            good &= holds(fam.kind, quantity(lay, fam, x), budget_s, usable(fam.side))
        return good

    full = ok(top)
    for _ in range(64):
        mid = (low + high) / 2
        passed = ok(mid)
        low = np.where(passed, mid, low)
        high = np.where(passed, high, mid)
    return np.where(full, top, np.where(ok(np.zeros(len(lay))), low, -1.0))
