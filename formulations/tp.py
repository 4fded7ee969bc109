"""Tensor parallelism: forward model and layouts (docs/model.md §20).

r groups of t GPUs in one scale-up domain each (the unit is the group: `cm.unit_gpus` is t).
Every GPU of a group runs every sequence of the group on its share of the attention heads and of
each expert's intermediate dimension, then two all-reduces per layer sum the partial hidden
states over scale-up. n (sequences per GPU) is the group's batch; a group is one serving rank.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from formulations import kernels
from formulations.attention import effective_context, geometry
from formulations.costs import CostModel, Num
from formulations.families import Family
from formulations.layouts import ImbalanceFn, Layouts, family_checks, pack_stages
from formulations.types import Deployment, Instance, Model, Search

NAME = "tp"
MICRO_BATCHES_FIELD = "tp_micro_batches"


@dataclass(frozen=True)
class Split:
    """One GPU's share of a layer's attention under tensor parallelism t (§20.2)."""

    projection_params: float
    """P_proj_t: projections in the absorbed (decode) form, FLOPs and streaming."""
    stored_params: float
    """P_stored_t: the same as stored, for memory."""
    kv_elements: float
    """kv_t: cached elements per token and layer on one GPU."""
    score_flops_per_ctx: float
    """f_score / t: score and value FLOPs per cached token (heads split)."""


def split(model: Model, t: int) -> Split:
    """Attention of one layer on one of t GPUs: heads split, low-rank down-projections and
    MLA's latent cache replicated, KV heads replicated beyond h_kv (§20.2)."""
    m, geo, hidden = model, geometry(model), model.hidden_size
    if m.attention == "mla":
        kv_rank, rope = int(m.kv_lora_rank or 0), int(m.qk_rope_head_dim or 0)
        replicated = hidden * (m.q_lora_rank or 0) + hidden * (kv_rank + rope)
        kv_all = kv_one = 0.0
        kv_elements = float(geo.kv_elements_per_token)
    else:
        head_dim = int(m.head_dim or 0)
        replicated = hidden * (m.q_lora_rank or 0) if m.attention == "mfa" else 0
        kv_heads = m.num_attention_heads if m.attention == "mha" else int(m.num_kv_heads or 1)
        kv_on_gpu = max(kv_heads / t, 1.0)
        kv_all = 2.0 * hidden * head_dim * kv_heads
        kv_one = 2.0 * hidden * head_dim * kv_on_gpu
        kv_elements = 2.0 * head_dim * kv_on_gpu

    def share(params: int) -> float:
        return replicated + (params - replicated - kv_all) / t + kv_one

    return Split(
        projection_params=share(geo.projection_params),
        stored_params=share(geo.stored_params),
        kv_elements=kv_elements,
        score_flops_per_ctx=geo.score_flops_per_ctx / t,
    )


def allowed(model: Model, t: int, domain_gpus: int) -> bool:
    """t splits the heads, the KV heads (or replicates them) and M, inside one domain (§20.1)."""
    heads, inter = model.num_attention_heads, model.moe_intermediate_size
    ok = t <= domain_gpus and heads % t == 0 and inter % t == 0
    if model.attention in ("gqa", "mfa"):
        kv = int(model.num_kv_heads or 1)
        ok = ok and (kv % t == 0 or t % kv == 0)
    return ok


def deployment_problems(inst: Instance, d: Deployment) -> list[str]:
    """What makes deployment `d` not a TP deployment of `inst` (§20.1): a group size the model
    or the scale-up domain does not allow, redundant experts (TP has no expert ranks)."""
    t, domain = int(d.unit_gpus or 0), inst.hardware.scaleup_domain_gpus
    problems = []
    if not allowed(inst.model, t, domain):
        sizes = [k for k in range(1, domain + 1) if allowed(inst.model, k, domain)]
        problems.append(
            f"tensor_parallel = {t}: not a group size of {inst.model.name} on "
            f"{inst.hardware.name} (it must split the heads, the KV heads and the expert width "
            f"inside one {domain}-GPU scale-up domain): one of {', '.join(map(str, sizes))}"
        )
    if d.redundant:
        problems.append(
            f"redundant_experts = {d.redundant}: TP has no expert ranks (every GPU holds a slice "
            "of every expert); leave it out or 0"
        )
    return problems


def unit_sizes(inst: Instance) -> tuple[int, ...]:
    """The group sizes t of the search range that `allowed` keeps on this hardware."""
    domain = inst.hardware.scaleup_domain_gpus
    return tuple(
        int(t) for t in inst.search.tensor_parallel.values() if allowed(inst.model, int(t), domain)
    )


@dataclass(frozen=True)
class Stages:
    """Stage times (s), memory (bytes) and loads of TP deployments (arrays broadcast together)."""

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
    allreduce_latency_s: np.ndarray
    allreduce_s: np.ndarray
    serial_s: np.ndarray
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
        """Compute and, without overlap, the all-reduces; with overlap the longer (§20.5)."""
        return np.maximum(self.serial_s, self.allreduce_s)


def _layer_params(cm: CostModel) -> tuple[Split, float]:
    """(the GPU's attention split, its share of the dense work per layer: P_side / t)."""
    t = cm.unit_gpus
    return split(cm.model, t), cm.side_params_per_layer / t


def times(cm: CostModel, micro: Num, micro_batches: Num) -> dict[str, np.ndarray]:
    """One GPU's per-stage times for a micro-batch of `micro` sequences (§20.2-§20.5)."""
    m, w, r, t = cm.model, cm.workload, cm.rates, cm.unit_gpus
    sp, side = _layer_params(cm)
    seqs = np.asarray(micro, dtype=float)
    tokens = seqs * w.tokens_per_step
    ctx = effective_context(m, w.context_tokens)
    # §20.2: heads split over t; replicated down-projections and (MLA) the whole latent cache.
    flop_s = (
        tokens * sp.score_flops_per_ctx * ctx / r.attention_core_flops
        + tokens * 2.0 * (sp.projection_params + side) / r.attention_gemm_flops
    )
    kv_layer = sp.kv_elements * ctx * m.kv_cache_bytes
    byte_s = (
        (sp.projection_params + side) * m.attention_weight_bytes + seqs * kv_layer
    ) / r.hbm_bytes_per_s
    # §20.3: every expert on M / t, all pairs of the micro-batch, every slice streamed.
    experts = np.full(np.shape(seqs), float(m.num_routed_experts))
    pairs = tokens * m.experts_per_token
    inter = m.moe_intermediate_size / t
    gemm_compute = 6.0 * pairs * m.hidden_size * inter / cm.gemm_rate_flops(pairs / experts)
    gemm_weight = experts * 3.0 * m.hidden_size * inter * m.expert_weight_bytes
    gemm_weight = gemm_weight / r.hbm_bytes_per_s
    # §20.4: two ring all-reduces of the micro-batch's hidden states (the kernel `calibrate`
    # fits), none on one GPU.
    allreduce = 2.0 * kernels.allreduce_time_s(r, t, tokens, m.hidden_size, m.combine_bytes)
    allreduce_latency = np.full(np.shape(seqs), 2.0 * r.allreduce_latency_s if t > 1 else 0.0)
    attention_latency = np.full(np.shape(seqs), r.attention_latency_s)
    gemm_latency = np.full(np.shape(seqs), r.gemm_latency_s)
    attention_s = attention_latency + np.maximum(flop_s, byte_s)
    gemm_s = gemm_latency + np.maximum(gemm_compute, gemm_weight)
    compute = attention_s + gemm_s
    # §20.5: one micro-batch has nothing to hide its all-reduces behind.
    exposed = np.where(np.asarray(micro_batches) == 1, allreduce, 0.0)
    return {
        "attention_flop_s": flop_s,
        "attention_byte_s": byte_s,
        "attention_latency_s": attention_latency,
        "attention_s": attention_s,
        "gemm_compute_s": gemm_compute,
        "gemm_weight_s": gemm_weight,
        "gemm_latency_s": gemm_latency,
        "gemm_s": gemm_s,
        "compute_s": compute,
        "allreduce_latency_s": allreduce_latency,
        "allreduce_s": allreduce,
        "serial_s": compute + exposed,
        "experts_per_gpu": experts,
        # One GPU's expert work in pair equivalents (6 H M FLOPs each), for HFU and OFU.
        "pairs_hot": pairs / t,
        "pairs_mean": pairs / t,
    }


def memory(cm: CostModel, sequences: Num) -> dict[str, np.ndarray]:
    """Bytes on one GPU with `sequences` in flight (§20.5): its share of the weights, all
    experts on M / t, the KV cache of the group's sequences, one hidden state per token."""
    m, w, t = cm.model, cm.workload, cm.unit_gpus
    sp = split(m, t)
    seqs = np.asarray(sequences, dtype=float)
    static = (
        m.num_layers * sp.stored_params * m.attention_weight_bytes
        + cm.side_params_total * m.attention_weight_bytes / t
        + 2.0 * m.vocab_size * m.hidden_size * m.embedding_bytes / t
    )
    attention = np.full(np.shape(seqs), static)
    expert_bytes = np.full(
        np.shape(seqs),
        m.num_moe_layers * m.num_routed_experts * cm.expert_bytes / t,
    )
    ctx = effective_context(m, w.context_tokens)
    kv = seqs * m.num_layers * sp.kv_elements * ctx * m.kv_cache_bytes
    buffers = seqs * w.tokens_per_step * m.hidden_size * m.combine_bytes
    return {
        "attention_weight_bytes": attention,
        "expert_weight_bytes": expert_bytes,
        "kv_bytes": kv,
        "buffer_bytes": buffers,
        "gpu_bytes": attention + expert_bytes + kv + buffers,
    }


def stages(cm: CostModel, sequences: Num, micro_batches: Num) -> Stages:
    """Evaluate TP deployments of group size cm.unit_gpus (docs/model.md §20)."""
    seqs = np.asarray(sequences, dtype=np.int64)
    nbo = np.asarray(micro_batches, dtype=np.int64)
    micro = -(-seqs // nbo)
    fields = {**times(cm, micro, nbo), **memory(cm, seqs)}
    return pack_stages(Stages, cm, nbo, micro, False, fields)


def deployment_stages(cm: CostModel, d: Deployment, eps: float = 1.0) -> Stages:
    del eps  # every GPU runs every expert: no hottest rank (§20.1)
    return stages(cm, d.sequences_per_gpu, d.micro_batches)


def layouts(cm: CostModel, micro_batches: int, search: Search, imbalance: ImbalanceFn) -> Layouts:
    """Every TP layout (r groups of t = cm.unit_gpus) of the search space; no caps yet."""
    del imbalance  # no expert ranks
    r = np.asarray(search.tp_groups.values(), dtype=np.int64)
    if search.max_gpus is not None:
        r = r[r * cm.unit_gpus <= search.max_gpus]
    experts = np.full(r.shape, cm.model.num_routed_experts, dtype=np.int64)
    return Layouts(
        architecture=NAME,
        micro_batches=micro_batches,
        sequences=search.sequences_per_gpu,
        ffn_units=np.zeros(r.shape, dtype=np.int64),
        expert_units=r,
        serving_lo=r,
        serving_hi=r,
        redundant=np.zeros(r.shape, dtype=np.int64),
        in_domain=np.zeros(r.shape, dtype=bool),
        experts_per_gpu=experts,
        eps=np.ones(r.shape),
        unit_gpus=cm.unit_gpus,
    )


def quantities(cm: CostModel, lay: Layouts, batch: str, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every quantity that grows with one batch quantity, on each layout, when it is `x`."""
    if batch == "micro_batch":
        return times(cm, x, lay.micro_batches)
    return memory(cm, x)


def family_quantity(cm: CostModel, lay: Layouts, fam: Family, x: np.ndarray) -> np.ndarray:
    """Family `fam`'s quantity on each layout when its batch quantity is `x` (per layout)."""
    values = quantities(cm, lay, fam.batch, x)[fam.field]
    return np.broadcast_to(values, np.broadcast(values, lay.expert_units).shape)


def single_layout(cm: CostModel, d: Deployment, eps: float, search: Search) -> Layouts:
    """The layout of deployment d alone (for per-deployment analyses)."""
    del eps
    r = np.array([d.pool(NAME)], dtype=np.int64)
    return Layouts(
        architecture=NAME,
        micro_batches=d.micro_batches,
        sequences=search.sequences_per_gpu,
        ffn_units=np.zeros(1, dtype=np.int64),
        expert_units=r,
        serving_lo=r,
        serving_hi=r,
        redundant=np.zeros(1, dtype=np.int64),
        in_domain=np.zeros(1, dtype=bool),
        experts_per_gpu=np.array([cm.model.num_routed_experts]),
        eps=np.ones(1),
        unit_gpus=cm.unit_gpus,
    )


def read_deployment(lay: Layouts, c: int, serving: int, sequences: int) -> Deployment:
    return Deployment(
        NAME,
        int(sequences),
        lay.micro_batches,
        0,
        nodes=((NAME, int(lay.expert_units[c])),),
        unit_gpus=lay.unit_gpus,
    )


def checks(cm: CostModel, s: Stages) -> dict[str, np.ndarray]:
    """One boolean array per TP constraint family (True = holds)."""
    return family_checks(NAME, cm, s)


def layout_stages(
    cm: CostModel, lay: Layouts, idx: np.ndarray, serving: np.ndarray, sequences: np.ndarray
) -> Stages:
    """Stages of deployments given by layout index and sequences per GPU (serving = r)."""
    del serving, idx  # a group's stages do not depend on how many groups there are
    return stages(cm, sequences, lay.micro_batches)
