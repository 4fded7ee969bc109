"""Large-scale Expert Parallelism: forward model and layouts (docs/model.md §3-§7, §11).

N units of g GPUs; every GPU runs attention for its own n sequences in flight (the largest of the
N_BO micro-batches holds b = ceil(n / N_BO)), holds G = ceil((E + R) / (N g)) routed experts
and the shared experts, and exchanges tokens in an all-to-all that overlaps with the other
micro-batch's compute.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from formulations.costs import CostModel, Num, experts_per_gpu
from formulations.families import Family
from formulations.layouts import ImbalanceFn, Layouts, family_checks, pack_stages
from formulations.types import Deployment, Instance, Search

NAME = "ep"
MICRO_BATCHES_FIELD = "ep_micro_batches"


@dataclass(frozen=True)
class Stages:
    """Stage times (s), memory (bytes) and loads of EP deployments (arrays broadcast together)."""

    budget_s: np.ndarray
    micro_batch_size: np.ndarray
    attention_flop_s: np.ndarray
    attention_byte_s: np.ndarray
    attention_latency_s: np.ndarray
    attention_s: np.ndarray
    gemm_compute_s: np.ndarray
    gemm_weight_s: np.ndarray
    gemm_latency_s: np.ndarray
    gemm_s: np.ndarray
    compute_s: np.ndarray
    serial_s: np.ndarray
    scaleout_dispatch_s: np.ndarray
    scaleout_combine_s: np.ndarray
    scaleout_s: np.ndarray
    scaleup_dispatch_s: np.ndarray
    scaleup_combine_s: np.ndarray
    scaleup_s: np.ndarray
    attention_weight_bytes: np.ndarray
    expert_weight_bytes: np.ndarray
    kv_bytes: np.ndarray
    buffer_bytes: np.ndarray
    gpu_bytes: np.ndarray
    experts_per_gpu: np.ndarray
    pairs_hot: np.ndarray
    pairs_mean: np.ndarray
    in_domain: np.ndarray

    @property
    def stage_s(self) -> np.ndarray:
        """Compute of one micro-batch, or the all-to-all when it is not hidden behind it; with
        one micro-batch nothing hides it and `serial_s` holds both (§3, §6.5)."""
        return np.maximum.reduce([self.serial_s, self.scaleout_s, self.scaleup_s])


def in_domain(cm: CostModel, units: Num) -> np.ndarray:
    n = np.asarray(units)
    if not cm.superpod:
        return np.zeros(np.shape(n), dtype=bool)
    return n <= cm.domain_units


def times(
    cm: CostModel,
    units: Num,
    redundant: Num,
    micro: Num,
    inside: Num,
    eps: Num = 1.0,
    micro_batches: Num = 2,
) -> dict[str, np.ndarray]:
    """One GPU's per-stage times for a micro-batch of `micro` sequences (§4-§6).

    The all-to-all sends each token once per remote domain it reaches (worst case
    min(D, domains - 1)) over scale-out, then fans out over scale-up; inside a superpod's
    domain tokens go straight to each expert GPU over scale-up.
    """
    m, w, r = cm.model, cm.workload, cm.rates
    n = np.asarray(units, dtype=np.int64)
    experts = experts_per_gpu(m, redundant, n * cm.unit_gpus)
    tokens = w.dp_imbalance * np.asarray(micro, dtype=float) * w.tokens_per_step
    pairs_mean = tokens * m.experts_per_token
    pairs_hot = pairs_mean * eps
    remote = np.minimum(cm.fanout_units(n), cm.domains(n) - 1)
    out_copies = tokens * remote * cm.node_eps(eps, n * cm.unit_gpus)
    # The scale-out all-to-all exists only where a token has a remote domain to reach.
    out_used = np.logical_not(inside) & (remote > 0)
    out_dispatch, out_combine = cm.wire_parts_s(
        out_copies, r.scaleout_bytes_per_s, r.scaleout_latency_s, used=out_used
    )
    up_dispatch, up_combine = cm.wire_parts_s(pairs_hot, r.scaleup_bytes_per_s, r.scaleup_latency_s)
    flop_s, byte_s = cm.attention_time_parts_s(micro)
    gemm_compute, gemm_weight = cm.gemm_times_s(pairs_hot, experts)
    attention_latency = np.full(np.shape(flop_s), r.attention_latency_s)
    gemm_latency = np.full(np.shape(gemm_compute), r.gemm_latency_s)
    attention_s = attention_latency + np.maximum(flop_s, byte_s)
    gemm_s = gemm_latency + np.maximum(gemm_compute, gemm_weight)
    # With one micro-batch the all-to-all has no other micro-batch's compute to hide behind.
    alone = np.asarray(micro_batches) == 1
    exposed = np.where(alone, out_dispatch + out_combine + up_dispatch + up_combine, 0.0)
    return {
        "attention_flop_s": flop_s,
        "attention_byte_s": byte_s,
        "attention_latency_s": attention_latency,
        "attention_s": attention_s,
        "gemm_compute_s": gemm_compute,
        "gemm_weight_s": gemm_weight,
        "gemm_latency_s": gemm_latency,
        "gemm_s": gemm_s,
        "compute_s": attention_s + gemm_s,
        "serial_s": attention_s + gemm_s + exposed,
        "scaleout_dispatch_s": out_dispatch,
        "scaleout_combine_s": out_combine,
        "scaleout_s": out_dispatch + out_combine,
        "scaleup_dispatch_s": up_dispatch,
        "scaleup_combine_s": up_combine,
        "scaleup_s": up_dispatch + up_combine,
        "experts_per_gpu": experts,
        "pairs_hot": pairs_hot,
        "pairs_mean": pairs_mean,
    }


def memory(
    cm: CostModel, units: Num, redundant: Num, sequences: Num, eps: Num = 1.0
) -> dict[str, np.ndarray]:
    """Bytes on one GPU with `sequences` in flight: attention weights (with the shared experts
    and dense layers), routed experts, KV cache, receive buffers (§7)."""
    m, w = cm.model, cm.workload
    experts = experts_per_gpu(m, redundant, np.asarray(units, dtype=np.int64) * cm.unit_gpus)
    seqs = np.asarray(sequences, dtype=float)
    attention = np.full(np.shape(seqs), cm.attention_static_bytes)
    expert_bytes = cm.expert_memory_bytes(experts, False)
    kv = cm.kv_bytes(seqs)
    pairs_hot = w.dp_imbalance * seqs * w.tokens_per_step * m.experts_per_token * eps
    buffers = cm.buffer_bytes(pairs_hot)
    return {
        "attention_weight_bytes": attention,
        "expert_weight_bytes": expert_bytes,
        "kv_bytes": kv,
        "buffer_bytes": buffers,
        "gpu_bytes": attention + expert_bytes + kv + buffers,
    }


def stages(
    cm: CostModel,
    units: Num,
    sequences: Num,
    redundant: Num,
    micro_batches: Num,
    eps: Num = 1.0,
) -> Stages:
    """Evaluate EP deployments (docs/model.md §3-§7)."""
    n = np.asarray(units, dtype=np.int64)
    seqs = np.asarray(sequences, dtype=np.int64)
    nbo = np.asarray(micro_batches, dtype=np.int64)
    micro = -(-seqs // nbo)
    inside = in_domain(cm, n)
    fields = {
        **times(cm, n, redundant, micro, inside, eps, nbo),
        **memory(cm, n, redundant, seqs, eps),
    }
    return pack_stages(Stages, cm, nbo, micro, inside, fields)


def deployment_stages(cm: CostModel, d: Deployment, eps: float = 1.0) -> Stages:
    return stages(cm, d.pool("ep"), d.sequences_per_gpu, d.redundant, d.micro_batches, eps)


def layouts(cm: CostModel, micro_batches: int, search: Search, imbalance: ImbalanceFn) -> Layouts:
    """Every EP layout (N, R) of the search space; no caps yet."""
    n_grid, r_grid = np.meshgrid(search.nodes.values(), search.redundant_experts.values())
    n, r = n_grid.ravel().astype(np.int64), r_grid.ravel().astype(np.int64)
    keep = np.ones(n.shape, dtype=bool)
    if search.max_gpus is not None:
        keep &= n * cm.unit_gpus <= search.max_gpus
    experts = experts_per_gpu(cm.model, r, n * cm.unit_gpus)
    if search.experts_per_gpu is not None:
        keep &= (experts >= search.experts_per_gpu.lo) & (experts <= search.experts_per_gpu.hi)
    n, r, experts = n[keep], r[keep], experts[keep]
    eps = imbalance(n * cm.unit_gpus, r).astype(float)
    placed = np.isfinite(eps)  # a layout whose placement was not computed is not searched
    n, r, experts, eps = n[placed], r[placed], experts[placed], eps[placed]
    return Layouts(
        architecture=NAME,
        micro_batches=micro_batches,
        sequences=search.sequences_per_gpu,
        ffn_units=np.zeros(n.shape, dtype=np.int64),
        expert_units=n,
        serving_lo=n,
        serving_hi=n,
        redundant=r,
        in_domain=in_domain(cm, n),
        experts_per_gpu=experts,
        eps=eps,
    )


def quantities(cm: CostModel, lay: Layouts, batch: str, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every quantity that grows with one batch quantity, on each layout, when it is `x`."""
    n, r = lay.expert_units, lay.redundant
    if batch == "micro_batch":
        return times(cm, n, r, x, lay.in_domain, lay.eps, lay.micro_batches)
    return memory(cm, n, r, x, lay.eps)


def family_quantity(cm: CostModel, lay: Layouts, fam: Family, x: np.ndarray) -> np.ndarray:
    """Family `fam`'s quantity on each layout when its batch quantity is `x` (per layout)."""
    return quantities(cm, lay, fam.batch, x)[fam.field]


def single_layout(cm: CostModel, d: Deployment, eps: float, search: Search) -> Layouts:
    """The layout of deployment d alone (for per-deployment analyses)."""
    n = np.array([d.pool("ep")])
    return Layouts(
        architecture=NAME,
        micro_batches=d.micro_batches,
        sequences=search.sequences_per_gpu,
        ffn_units=np.zeros(1, dtype=np.int64),
        expert_units=n,
        serving_lo=n,
        serving_hi=n,
        redundant=np.array([d.redundant]),
        in_domain=in_domain(cm, n),
        experts_per_gpu=experts_per_gpu(cm.model, d.redundant, n * cm.unit_gpus),
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
    return Deployment(
        NAME,
        int(sequences),
        lay.micro_batches,
        int(lay.redundant[c]),
        nodes=((NAME, int(lay.expert_units[c])),),
    )


def checks(cm: CostModel, s: Stages) -> dict[str, np.ndarray]:
    """One boolean array per EP constraint family (True = holds)."""
    return family_checks(NAME, cm, s)


def layout_stages(
    cm: CostModel, lay: Layouts, idx: np.ndarray, serving: np.ndarray, sequences: np.ndarray
) -> Stages:
    """Stages of deployments given by layout index and sequences per GPU (serving = N)."""
    del serving  # fixed by the layout
    return stages(
        cm, lay.expert_units[idx], sequences, lay.redundant[idx], lay.micro_batches, lay.eps[idx]
    )
