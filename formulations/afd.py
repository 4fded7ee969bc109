"""Attention-FFN Disaggregation: forward model, layouts and integer program (docs/model.md §3-§11).

Attention runs on N_A units of g GPUs (data parallel, n sequences in flight per GPU, the largest
of the N_BO micro-batches holds b = ceil(n / N_BO)); routed experts run on N_F units (expert
parallel). Everything here is vectorised: arguments broadcast, so the enumeration oracle
evaluates whole grids and the layouts' caps come from the very same functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from formulations.costs import CostModel, Num, experts_per_gpu
from formulations.families import Family
from formulations.layouts import ImbalanceFn, Layouts, family_checks, pack_stages
from formulations.types import Deployment, Instance, Search

NAME = "afd"
MICRO_BATCHES_FIELD = "afd_micro_batches"
"""The Search field with this architecture's micro-batch counts."""


@dataclass(frozen=True)
class Stages:
    """Stage times (s), memory (bytes) and loads of AFD deployments (arrays broadcast together).

    Time fields are per layer and micro-batch; memory fields per GPU of each pool.
    """

    budget_s: np.ndarray
    micro_batch_size: np.ndarray
    attention_flop_s: np.ndarray
    attention_byte_s: np.ndarray
    attention_latency_s: np.ndarray
    attention_s: np.ndarray
    attention_dispatch_s: np.ndarray
    attention_combine_s: np.ndarray
    attention_wire_s: np.ndarray
    gemm_compute_s: np.ndarray
    gemm_weight_s: np.ndarray
    gemm_latency_s: np.ndarray
    gemm_s: np.ndarray
    ffn_scaleout_dispatch_s: np.ndarray
    ffn_scaleout_combine_s: np.ndarray
    ffn_scaleout_s: np.ndarray
    ffn_scaleup_dispatch_s: np.ndarray
    ffn_scaleup_combine_s: np.ndarray
    ffn_scaleup_s: np.ndarray
    attention_weight_bytes: np.ndarray
    attention_kv_bytes: np.ndarray
    attention_buffer_bytes: np.ndarray
    attention_bytes: np.ndarray
    ffn_weight_bytes: np.ndarray
    ffn_buffer_bytes: np.ndarray
    ffn_bytes: np.ndarray
    experts_per_gpu: np.ndarray
    pairs_hot: np.ndarray
    pairs_mean: np.ndarray
    in_domain: np.ndarray

    @property
    def stage_s(self) -> np.ndarray:
        """The slowest pipeline stage: it paces every micro-batch of every layer (§3)."""
        return np.maximum.reduce(
            [
                self.attention_s,
                self.attention_wire_s,
                self.gemm_s,
                self.ffn_scaleout_s,
                self.ffn_scaleup_s,
            ]
        )


def in_domain(cm: CostModel, attention_units: Num, ffn_units: Num) -> np.ndarray:
    """True where the whole deployment sits inside one superpod scale-up domain (§6)."""
    total = np.asarray(attention_units) + np.asarray(ffn_units)
    if not cm.superpod:
        return np.zeros(np.shape(total), dtype=bool)
    return total <= cm.domain_units


def pool_tokens(cm: CostModel, slots: Num) -> np.ndarray:
    """Tokens the attention pool sends for `slots` sequence slots (S = N_A b, or T = N_A n):
    sigma_DP * g * q per slot (§2, §8)."""
    w = cm.workload
    return w.dp_imbalance * cm.unit_gpus * w.tokens_per_step * np.asarray(slots, dtype=float)


def ffn_times(
    cm: CostModel, ffn_units: Num, redundant: Num, micro_tokens: Num, inside: Num, eps: Num = 1.0
) -> dict[str, np.ndarray]:
    """The FFN pool's per-stage times for `micro_tokens` tokens in one micro-batch (§5, §6)."""
    m = cm.model
    ffn_gpus = np.asarray(ffn_units, dtype=np.int64) * cm.unit_gpus
    experts = experts_per_gpu(m, redundant, ffn_gpus)
    tokens = np.asarray(micro_tokens, dtype=float)
    pairs_mean = tokens * m.experts_per_token / ffn_gpus
    pairs_hot = pairs_mean * eps
    # Two-stage path: one scale-out copy per destination domain, then scale-up fan-out; inside a
    # superpod's domain the scale-up fabric carries everything (§6).
    copies_out_hot = tokens * cm.fanout_units(ffn_units) / ffn_gpus * cm.node_eps(eps, ffn_gpus)
    out_dispatch, out_combine = cm.wire_parts_s(
        copies_out_hot, cm.link_bytes_per_s, cm.link_latency_s, used=np.logical_not(inside)
    )
    r = cm.ffn_rates
    up_dispatch, up_combine = cm.wire_parts_s(pairs_hot, r.scaleup_bytes_per_s, r.scaleup_latency_s)
    compute_s, weight_s = cm.gemm_times_s(pairs_hot, experts, tokens / ffn_gpus)
    latency_s = np.full(np.shape(compute_s), r.gemm_latency_s)
    return {
        "gemm_compute_s": compute_s,
        "gemm_weight_s": weight_s,
        "gemm_latency_s": latency_s,
        "gemm_s": latency_s + np.maximum(compute_s, weight_s),
        "ffn_scaleout_dispatch_s": out_dispatch,
        "ffn_scaleout_combine_s": out_combine,
        "ffn_scaleout_s": out_dispatch + out_combine,
        "ffn_scaleup_dispatch_s": up_dispatch,
        "ffn_scaleup_combine_s": up_combine,
        "ffn_scaleup_s": up_dispatch + up_combine,
        "experts_per_gpu": experts,
        "pairs_hot": pairs_hot,
        "pairs_mean": pairs_mean,
    }


def ffn_memory(
    cm: CostModel, ffn_units: Num, redundant: Num, flight_tokens: Num, eps: Num = 1.0
) -> dict[str, np.ndarray]:
    """Bytes on the hottest FFN GPU with `flight_tokens` tokens in flight over all micro-batches
    (experts, shared experts when here, receive buffers; §7)."""
    ffn_gpus = np.asarray(ffn_units, dtype=np.int64) * cm.unit_gpus
    experts = experts_per_gpu(cm.model, redundant, ffn_gpus)
    pairs_hot = np.asarray(flight_tokens, dtype=float) * cm.model.experts_per_token / ffn_gpus
    weights = cm.expert_memory_bytes(experts, cm.shared_on_ffn)
    buffers = cm.buffer_bytes(pairs_hot * eps)
    return {
        "ffn_weight_bytes": weights,
        "ffn_buffer_bytes": buffers,
        "ffn_bytes": weights + buffers,
    }


def attention_copies(cm: CostModel, ffn_units: Num, inside: Num) -> np.ndarray:
    """Copies of one token an attention GPU sends: one per destination scale-up domain, or
    (inside a superpod domain) one per expert GPU it reaches (§6)."""
    direct = np.minimum(cm.model.experts_per_token, np.asarray(ffn_units) * cm.unit_gpus)
    return np.where(inside, direct, cm.fanout_units(ffn_units))


def attention_times(
    cm: CostModel, ffn_units: Num, micro: Num, inside: Num
) -> dict[str, np.ndarray]:
    """One attention GPU's per-stage times for a micro-batch of `micro` sequences (§4, §6)."""
    micro = np.asarray(micro, dtype=float)
    r = cm.rates
    link = np.where(inside, r.scaleup_bytes_per_s, cm.link_bytes_per_s)
    link_latency = (
        np.where(inside, r.scaleup_latency_s[0], cm.link_latency_s[0]),
        np.where(inside, r.scaleup_latency_s[1], cm.link_latency_s[1]),
    )
    flop_s, byte_s = cm.attention_time_parts_s(micro)
    copies = micro * cm.workload.tokens_per_step * attention_copies(cm, ffn_units, inside)
    dispatch_s, combine_s = cm.wire_parts_s(copies, link, link_latency)
    latency_s = np.full(np.shape(flop_s), r.attention_latency_s)
    return {
        "attention_flop_s": flop_s,
        "attention_byte_s": byte_s,
        "attention_latency_s": latency_s,
        "attention_s": latency_s + np.maximum(flop_s, byte_s),
        "attention_dispatch_s": dispatch_s,
        "attention_combine_s": combine_s,
        "attention_wire_s": dispatch_s + combine_s,
    }


def attention_memory(
    cm: CostModel, ffn_units: Num, sequences: Num, inside: Num
) -> dict[str, np.ndarray]:
    """Bytes on one attention GPU with `sequences` in flight: weights, KV, buffers (§7)."""
    seqs = np.asarray(sequences, dtype=float)
    weights = np.full(np.shape(seqs), cm.attention_static_bytes)
    kv = cm.kv_bytes(seqs)
    buffers = cm.attention_buffer_bytes(seqs, attention_copies(cm, ffn_units, inside))
    return {
        "attention_weight_bytes": weights,
        "attention_kv_bytes": kv,
        "attention_buffer_bytes": buffers,
        "attention_bytes": weights + kv + buffers,
    }


def stages(
    cm: CostModel,
    attention_units: Num,
    ffn_units: Num,
    sequences: Num,
    redundant: Num,
    micro_batches: Num,
    eps: Num = 1.0,
) -> Stages:
    """Evaluate AFD deployments (docs/model.md §3-§7).

    Args:
        attention_units: N_A; ffn_units: N_F (units of g GPUs).
        sequences: n, sequences in flight on one attention GPU over all micro-batches.
        redundant: R, redundant expert replicas.
        micro_batches: N_BO.
        eps: max/mean expert load of the hottest FFN GPU.
    """
    n_a = np.asarray(attention_units, dtype=np.int64)
    seqs = np.asarray(sequences, dtype=np.int64)
    nbo = np.asarray(micro_batches, dtype=np.int64)
    micro = -(-seqs // nbo)
    inside = in_domain(cm, n_a, ffn_units)
    fields = {
        **ffn_times(cm, ffn_units, redundant, pool_tokens(cm, n_a * micro), inside, eps),
        **ffn_memory(cm, ffn_units, redundant, pool_tokens(cm, n_a * seqs), eps),
        **attention_times(cm, ffn_units, micro, inside),
        **attention_memory(cm, ffn_units, seqs, inside),
    }
    return pack_stages(Stages, cm, nbo, micro, inside, fields)


def deployment_stages(cm: CostModel, d: Deployment, eps: float = 1.0) -> Stages:
    return stages(
        cm,
        d.pool("attention"),
        d.pool("ffn"),
        d.sequences_per_gpu,
        d.redundant,
        d.micro_batches,
        eps,
    )


# ---- layouts (docs/model.md §11) -----------------------------------------------------------


def layouts(cm: CostModel, micro_batches: int, search: Search, imbalance: ImbalanceFn) -> Layouts:
    """Every FFN layout (N_F, R, inside/outside a superpod domain) of the search space, with its
    limits on N_A and its memory caps; no time caps yet (`time_caps` adds them)."""
    f_grid, r_grid = np.meshgrid(search.ffn_nodes.values(), search.redundant_experts.values())
    f_all, r_all = f_grid.ravel().astype(np.int64), r_grid.ravel().astype(np.int64)
    bounded = cm.superpod and np.isfinite(cm.domain_units)
    choices = (True, False) if bounded else (cm.superpod,)
    parts = []
    for inside in choices:
        a_lo = np.full(f_all.shape, search.attention_nodes.lo, dtype=np.int64)
        a_hi = np.full(f_all.shape, search.attention_nodes.hi, dtype=np.int64)
        if bounded:
            room = np.int64(np.floor(cm.domain_units + 1e-9)) - f_all
            a_hi = np.minimum(a_hi, room) if inside else a_hi
            a_lo = a_lo if inside else np.maximum(a_lo, room + 1)
        if search.max_gpus is not None:
            a_hi = np.minimum(a_hi, search.max_gpus // cm.unit_gpus - f_all)
        parts.append((f_all, r_all, np.full(f_all.shape, inside), a_lo, a_hi))
    f, r, inside_all, a_lo, a_hi = (np.concatenate([p[i] for p in parts]) for i in range(5))
    experts = experts_per_gpu(cm.model, r, f * cm.unit_gpus)
    keep = a_lo <= a_hi
    if search.experts_per_gpu is not None:
        keep &= (experts >= search.experts_per_gpu.lo) & (experts <= search.experts_per_gpu.hi)
    f, r, inside_all, a_lo, a_hi, experts = (
        x[keep] for x in (f, r, inside_all, a_lo, a_hi, experts)
    )
    eps = imbalance(f * cm.unit_gpus, r).astype(float)
    placed = np.isfinite(eps)  # a layout whose placement was not computed is not searched
    f, r, inside_all, a_lo, a_hi, experts, eps = (
        x[placed] for x in (f, r, inside_all, a_lo, a_hi, experts, eps)
    )
    return Layouts(
        architecture=NAME,
        micro_batches=micro_batches,
        sequences=search.sequences_per_gpu,
        ffn_units=f,
        expert_units=f,
        serving_lo=a_lo,
        serving_hi=a_hi,
        redundant=r,
        in_domain=inside_all,
        experts_per_gpu=experts,
        eps=eps,
    )


def quantities(cm: CostModel, lay: Layouts, batch: str, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every quantity that grows with one batch quantity (families.BATCHES), on each layout, when
    that quantity is `x` (per layout; float allowed for the continuous sensitivity LP)."""
    f, inside = lay.ffn_units, lay.in_domain
    if batch == "micro_batch":
        return attention_times(cm, f, x, inside)
    if batch == "sequences":
        return attention_memory(cm, f, x, inside)
    if batch == "pool_micro":
        return ffn_times(cm, f, lay.redundant, pool_tokens(cm, x), inside, lay.eps)
    return ffn_memory(cm, f, lay.redundant, pool_tokens(cm, x), lay.eps)


def family_quantity(cm: CostModel, lay: Layouts, fam: Family, x: np.ndarray) -> np.ndarray:
    """Family `fam`'s quantity on each layout when its batch quantity is `x` (per layout)."""
    return quantities(cm, lay, fam.batch, x)[fam.field]


def single_layout(cm: CostModel, d: Deployment, eps: float, search: Search) -> Layouts:
    """The layout of deployment d alone, serving units pinned (for per-deployment analyses)."""
    a, f = np.array([d.pool("attention")]), np.array([d.pool("ffn")])
    return Layouts(
        architecture=NAME,
        micro_batches=d.micro_batches,
        sequences=search.sequences_per_gpu,
        ffn_units=f,
        expert_units=f,
        serving_lo=a,
        serving_hi=a,
        redundant=np.array([d.redundant]),
        in_domain=in_domain(cm, a, f),
        experts_per_gpu=experts_per_gpu(cm.model, d.redundant, f * cm.unit_gpus),
        eps=np.array([float(eps)]),
    )


def deployment_problems(inst: Instance, d: Deployment) -> list[str]:
    """Nothing beyond the deployment spec's own checks (fields, bounds, micro-batches)."""
    del inst, d
    return []


def unit_sizes(inst: Instance) -> tuple[int, ...]:
    """One unit size: the search's (docs/model.md §1.4)."""
    return (inst.search.unit_gpus,)


def read_deployment(lay: Layouts, c: int, serving: int, sequences: int) -> Deployment:
    """The deployment of layout c with `serving` attention units and n = `sequences`."""
    return Deployment(
        NAME,
        int(sequences),
        lay.micro_batches,
        int(lay.redundant[c]),
        nodes=(("attention", int(serving)), ("ffn", int(lay.ffn_units[c]))),
    )


def checks(cm: CostModel, s: Stages) -> dict[str, np.ndarray]:
    """One boolean array per AFD constraint family (True = holds)."""
    return family_checks(NAME, cm, s)


def layout_stages(
    cm: CostModel, lay: Layouts, idx: np.ndarray, serving: np.ndarray, sequences: np.ndarray
) -> Stages:
    """Stages of deployments given by layout index, serving units and sequences per GPU."""
    return stages(
        cm,
        serving,
        lay.ffn_units[idx],
        sequences,
        lay.redundant[idx],
        lay.micro_batches,
        lay.eps[idx],
    )
