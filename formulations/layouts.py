"""Expert layouts and their integer capacity caps: the coefficients of the integer programs.

A *layout* fixes everything about the expert side that the integer programs
encode by one-hot selection: the number of expert units (N_F for AFD, N for
EP), the redundant replicas R, the micro-batch count and, on a superpod,
whether the deployment stays inside one scale-up domain. Each ceiling, min
and ratio of MODEL.md (G = ceil((E+R)/(N g)), D = min(K, N), the fan-out
factor K/D) is then a constant of the layout, which is how the programs
linearise them exactly.

For each layout and each constraint family, `max_feasible_int` finds the
largest whole batch (sequences per GPU, or sequence slots S = N_A * b of the
attention pool) for which the family holds, by bisection on the very
functions of `formulations.deployment`. The caps are exact integers: a
deployment satisfies a family iff its batch is at most the cap, because every
stage time and memory figure grows with the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from formulations import deployment as dep
from formulations.costs import CostModel
from formulations.types import Deployment, Search

ATTENTION_SEQ_FAMILIES = ("attention:latency", "attention:hbm_capacity", "attention:wire")
FFN_SLOT_FAMILIES = ("ffn:gemm", "ffn:scale_out", "ffn:scale_up", "ffn:hbm_capacity")

ImbalanceFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(expert ranks, redundant replicas) -> max/mean load of the hottest rank."""


def constant_imbalance(eps: float) -> ImbalanceFn:
    """The same max/mean load for every layout."""

    def fn(ranks: np.ndarray, redundant: np.ndarray) -> np.ndarray:
        return np.full(np.broadcast(ranks, redundant).shape, float(eps))

    return fn


def layout_eps(imbalance: ImbalanceFn, d: Deployment, unit_gpus: int) -> float:
    """Max/mean expert load of deployment d's expert ranks (FFN GPUs for AFD, all GPUs for EP)."""
    units = d.n_ffn if d.architecture == "afd" else d.n_units
    return float(imbalance(np.array([units * unit_gpus]), np.array([d.redundant]))[0])


def max_feasible_int(
    ok: Callable[[np.ndarray], np.ndarray], lo: np.ndarray | int, hi: np.ndarray | int
) -> np.ndarray:
    """Largest integer x in [lo, hi] with ok(x), element-wise; lo - 1 where ok(lo) fails.

    `ok` must be monotone (True up to some point, then False) and vectorised:
    it receives one candidate per element.
    """
    lo = np.asarray(lo, dtype=np.int64).copy()
    hi = np.broadcast_to(np.asarray(hi, dtype=np.int64), lo.shape).copy()
    good = ok(lo)
    result = np.where(good, lo, lo - 1)
    low, high = lo.copy(), np.where(good, hi, lo)
    while True:
        active = low < high
        if not active.any():
            break
        mid = (low + high + 1) // 2
        passed = ok(mid)
        low = np.where(active & passed, mid, low)
        high = np.where(active & ~passed, mid - 1, high)
    return np.where(good, low, result)


@dataclass(frozen=True)
class AfdLayouts:
    """Candidate FFN layouts of AFD and their caps (arrays indexed by layout)."""

    micro_batches: int
    ffn_units: np.ndarray
    redundant: np.ndarray
    in_domain: np.ndarray
    experts_per_gpu: np.ndarray
    eps: np.ndarray
    attention_lo: np.ndarray
    """Fewest attention units this layout allows (superpod: outside the domain)."""
    attention_hi: np.ndarray
    """Most attention units (search limit, GPU cap, superpod domain)."""
    seq_caps: dict[str, np.ndarray] = field(default_factory=dict)
    """Per attention family: the largest b that holds."""
    slot_caps: dict[str, np.ndarray] = field(default_factory=dict)
    """Per FFN family: the largest S = N_A * b that holds."""

    def __len__(self) -> int:
        return len(self.ffn_units)

    def seq_cap(self) -> np.ndarray:
        return np.minimum.reduce(list(self.seq_caps.values()))

    def slot_cap(self) -> np.ndarray:
        return np.minimum.reduce(list(self.slot_caps.values()))

    def take(self, keep: np.ndarray) -> AfdLayouts:
        return AfdLayouts(
            micro_batches=self.micro_batches,
            ffn_units=self.ffn_units[keep],
            redundant=self.redundant[keep],
            in_domain=self.in_domain[keep],
            experts_per_gpu=self.experts_per_gpu[keep],
            eps=self.eps[keep],
            attention_lo=self.attention_lo[keep],
            attention_hi=self.attention_hi[keep],
            seq_caps={k: v[keep] for k, v in self.seq_caps.items()},
            slot_caps={k: v[keep] for k, v in self.slot_caps.items()},
        )


def afd_layouts(
    cm: CostModel,
    micro_batches: int,
    search: Search,
    imbalance: ImbalanceFn,
    keep_infeasible: bool = False,
) -> AfdLayouts:
    """Every AFD layout of the search space with its caps; infeasible layouts removed.

    With keep_infeasible the layouts that cannot host even the smallest
    deployment stay in, for diagnostics.
    """
    attention_units, seqs, max_gpus = (
        search.attention_nodes,
        search.sequences_per_gpu,
        search.max_gpus,
    )
    experts_per_gpu, redundant = search.experts_per_gpu, search.redundant_experts
    f_grid, r_grid = np.meshgrid(
        np.arange(search.ffn_nodes.lo, search.ffn_nodes.hi + 1),
        np.arange(redundant.lo, redundant.hi + 1),
    )
    f_all, r_all = f_grid.ravel(), r_grid.ravel()
    domain_choices = (
        (True, False) if cm.superpod and np.isfinite(cm.domain_units) else ((cm.superpod,))
    )
    parts = []
    for inside in domain_choices:
        a_lo = np.full(f_all.shape, attention_units.lo, dtype=np.int64)
        a_hi = np.full(f_all.shape, attention_units.hi, dtype=np.int64)
        if cm.superpod and np.isfinite(cm.domain_units):
            room = np.floor(cm.domain_units + 1e-9).astype(np.int64) - f_all
            if inside:
                a_hi = np.minimum(a_hi, room)
            else:
                a_lo = np.maximum(a_lo, room + 1)
        if max_gpus is not None:
            a_hi = np.minimum(a_hi, max_gpus // cm.unit_gpus - f_all)
        parts.append((f_all, r_all, np.full(f_all.shape, inside), a_lo, a_hi))
    f = np.concatenate([p[0] for p in parts])
    r = np.concatenate([p[1] for p in parts])
    inside_arr = np.concatenate([p[2] for p in parts])
    a_lo = np.concatenate([p[3] for p in parts])
    a_hi = np.concatenate([p[4] for p in parts])
    eps = imbalance(f * cm.unit_gpus, r)
    experts = dep.experts_per_gpu(cm.model, r, f * cm.unit_gpus)
    keep = a_lo <= a_hi
    if experts_per_gpu is not None:
        keep &= (experts >= experts_per_gpu.lo) & (experts <= experts_per_gpu.hi)
    f, r, inside_arr, a_lo, a_hi, eps, experts = (
        x[keep] for x in (f, r, inside_arr, a_lo, a_hi, eps, experts)
    )

    seq_caps = {}
    for family, key, limit in (
        ("attention:latency", "attention_s", "budget"),
        ("attention:hbm_capacity", "attention_bytes", "hbm"),
        ("attention:wire", "attention_wire_s", "budget"),
    ):

        def seq_ok(b: np.ndarray, key: str = key, limit: str = limit) -> np.ndarray:
            side = dep.afd_attention_side(cm, f, b, micro_batches, inside_arr)
            return _holds(cm, side[key], limit, micro_batches)

        seq_caps[family] = max_feasible_int(seq_ok, np.zeros(f.shape, dtype=np.int64), seqs.hi)
    slot_caps = {}
    slot_hi = np.maximum(a_hi, 0) * seqs.hi
    for family, key, limit in (
        ("ffn:gemm", "gemm_s", "budget"),
        ("ffn:scale_out", "ffn_scaleout_s", "budget"),
        ("ffn:scale_up", "ffn_scaleup_s", "budget"),
        ("ffn:hbm_capacity", "ffn_bytes", "hbm"),
    ):

        def slot_ok(s: np.ndarray, key: str = key, limit: str = limit) -> np.ndarray:
            tokens = dep.afd_tokens(cm, s)
            side = dep.afd_ffn_side(cm, f, r, micro_batches, tokens, inside_arr, eps)
            return _holds(cm, side[key], limit, micro_batches)

        slot_caps[family] = max_feasible_int(slot_ok, np.zeros(f.shape, dtype=np.int64), slot_hi)
    layouts = AfdLayouts(
        micro_batches=micro_batches,
        ffn_units=f,
        redundant=r,
        in_domain=inside_arr,
        experts_per_gpu=experts,
        eps=eps,
        attention_lo=a_lo,
        attention_hi=a_hi,
        seq_caps=seq_caps,
        slot_caps=slot_caps,
    )
    # A layout must host at least the smallest deployment: b >= seqs.lo on N_A >= attention_lo.
    if keep_infeasible:
        return layouts
    viable = (layouts.seq_cap() >= seqs.lo) & (layouts.slot_cap() >= layouts.attention_lo * seqs.lo)
    return layouts.take(viable)


def _holds(cm: CostModel, value: np.ndarray, limit: str, micro_batches: int) -> np.ndarray:
    if limit == "hbm":
        return dep.fits(value, cm.rates.hbm_usable_bytes)
    budget = cm.stage_budget_s(micro_batches)
    return (budget > 0) & dep.fits(value, budget)


@dataclass(frozen=True)
class EpLayouts:
    """Candidate EP layouts (units, replicas) and their per-family caps on b."""

    micro_batches: int
    units: np.ndarray
    redundant: np.ndarray
    experts_per_gpu: np.ndarray
    eps: np.ndarray
    seq_caps: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.units)

    def seq_cap(self) -> np.ndarray:
        return np.minimum.reduce(list(self.seq_caps.values()))

    def take(self, keep: np.ndarray) -> EpLayouts:
        return EpLayouts(
            micro_batches=self.micro_batches,
            units=self.units[keep],
            redundant=self.redundant[keep],
            experts_per_gpu=self.experts_per_gpu[keep],
            eps=self.eps[keep],
            seq_caps={k: v[keep] for k, v in self.seq_caps.items()},
        )


def ep_layouts(
    cm: CostModel,
    micro_batches: int,
    search: Search,
    imbalance: ImbalanceFn,
    keep_infeasible: bool = False,
) -> EpLayouts:
    """Every EP layout of the search space with its caps; infeasible layouts removed."""
    seqs, max_gpus, experts_per_gpu = (
        search.sequences_per_gpu,
        search.max_gpus,
        search.experts_per_gpu,
    )
    redundant = search.redundant_experts
    n_grid, r_grid = np.meshgrid(
        np.arange(search.nodes.lo, search.nodes.hi + 1),
        np.arange(redundant.lo, redundant.hi + 1),
    )
    n, r = n_grid.ravel(), r_grid.ravel()
    keep = np.ones(n.shape, dtype=bool)
    if max_gpus is not None:
        keep &= n * cm.unit_gpus <= max_gpus
    experts = dep.experts_per_gpu(cm.model, r, n * cm.unit_gpus)
    if experts_per_gpu is not None:
        keep &= (experts >= experts_per_gpu.lo) & (experts <= experts_per_gpu.hi)
    n, r, experts = n[keep], r[keep], experts[keep]
    eps = imbalance(n * cm.unit_gpus, r)
    seq_caps = {}
    for family in dep.EP_FAMILIES:

        def ok(b: np.ndarray, family: str = family) -> np.ndarray:
            stages = dep.ep_stages(cm, n, b, r, micro_batches, eps)
            return dep.ep_checks(cm, stages)[family]

        seq_caps[family] = max_feasible_int(ok, np.zeros(n.shape, dtype=np.int64), seqs.hi)
    layouts = EpLayouts(micro_batches, n, r, experts, eps, seq_caps)
    if keep_infeasible:
        return layouts
    return layouts.take(layouts.seq_cap() >= seqs.lo)
