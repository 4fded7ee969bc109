"""The cost model of docs/model.md §3-§7, one function per physical quantity.

All functions are pure and vectorised: arguments may be numpy arrays that
broadcast against each other. Units are SI (seconds, bytes, FLOP, bytes/s).

Assumptions beyond the reference analysis (docs/model.md §16):
- Attention-side dense work (shared experts when they stay on the attention
  side, always in EP; dense-layer FFNs) is spread evenly over the layers'
  stages and added to the attention stage; embeddings and the LM head cost
  memory only (their compute is part of the per-step gap t_g).
- One roofline for the attention stage: time = max(FLOP time, byte time),
  where FLOP time runs the context-dependent attention core at the BF16 rate
  and the projections/dense GEMMs at the FP8 rate when their weights are FP8.
- Imbalance `eps` (max/mean load) scales the hottest expert GPU's expert-token
  pairs, its scale-up ingress and buffers; scale-out ingress follows the node's
  load, (eps + n - 1) / n for n GPUs per node (`node_eps`).
- Send/receive buffers: one layer's traffic per in-flight micro-batch, which
  sums to the traffic of every sequence in flight (docs/model.md §7).
- On a superpod, traffic inside the scale-up domain goes straight from the
  attention GPU to each expert GPU over scale-up (no scale-out stage).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from formulations import archspec
from formulations.attention import effective_context, geometry
from formulations.types import Deployment, Hardware, Instance, Model, Workload

Num = np.ndarray | float | int
"""A scalar or an array of values that broadcast together."""

TERA = 1e12
GIGA = 1e9


@dataclass(frozen=True)
class Rates:
    """Sustained hardware rates after efficiency factors (SI units)."""

    ffn_flops: float
    attention_core_flops: float
    attention_gemm_flops: float
    hbm_bytes_per_s: float
    scaleup_bytes_per_s: float
    scaleout_bytes_per_s: float
    hbm_usable_bytes: float
    peak_fp8_flops: float
    calibration_tpe: tuple[float, ...]
    calibration_flops: tuple[float, ...]
    attention_latency_s: float
    """Fixed time of the attention stage per layer and micro-batch (docs/model.md §3.1)."""
    gemm_latency_s: float
    """Fixed time of the grouped-GEMM stage per layer and micro-batch."""
    scaleup_latency_s: tuple[float, float]
    """Fixed (dispatch, combine) time of a stage on scale-up."""
    scaleout_latency_s: tuple[float, float]
    """Fixed (dispatch, combine) time of a stage on scale-out."""
    allreduce_latency_s: float
    """Fixed time of one all-reduce over scale-up (TP, docs/model.md §20.4)."""

    @staticmethod
    def of(hw: Hardware, model: Model | None = None) -> Rates:
        """The rates of `hw`; `model` sets the attention GEMMs' precision (default FP8)."""
        fp8 = hw.fp8_tflops * TERA
        bf16 = hw.bf16_tflops * TERA
        fp8_weights = model is None or model.attention_weight_bytes <= 1.0
        gemm_peak = fp8 if fp8_weights else bf16
        cal = sorted(hw.gemm_calibration)
        us = 1e-6
        return Rates(
            ffn_flops=fp8 * hw.ffn_efficiency,
            attention_core_flops=bf16 * hw.attention_efficiency,
            attention_gemm_flops=gemm_peak * hw.attention_efficiency,
            hbm_bytes_per_s=hw.hbm_tbps * TERA * hw.hbm_efficiency,
            scaleup_bytes_per_s=hw.scaleup_gbps * GIGA * hw.scaleup_efficiency,
            scaleout_bytes_per_s=hw.scaleout_gbps * GIGA * hw.scaleout_efficiency,
            hbm_usable_bytes=hw.hbm_gb * GIGA * hw.hbm_usable_fraction,
            peak_fp8_flops=fp8,
            calibration_tpe=tuple(p[0] for p in cal),
            calibration_flops=tuple(p[1] * TERA for p in cal),
            attention_latency_s=hw.attention_latency_us * us,
            gemm_latency_s=hw.grouped_gemm_latency_us * us,
            scaleup_latency_s=(
                hw.dispatch_scale_up_latency_us * us,
                hw.combine_scale_up_latency_us * us,
            ),
            scaleout_latency_s=(
                hw.dispatch_scale_out_latency_us * us,
                hw.combine_scale_out_latency_us * us,
            ),
            allreduce_latency_s=hw.allreduce_scale_up_latency_us * us,
        )

    def gemm_rate_flops(self, tokens_per_expert: Num) -> np.ndarray:
        """Achieved grouped-GEMM FLOP/s at `tokens_per_expert`: the constant rate, or the
        calibrated curve, linear between its points and flat outside them (§5.2)."""
        if not self.calibration_tpe:
            return np.full(np.shape(tokens_per_expert), self.ffn_flops)
        return np.asarray(
            np.interp(tokens_per_expert, self.calibration_tpe, self.calibration_flops)
        )

    def link(self, tier: str) -> tuple[float, tuple[float, float]]:
        """(sustained bytes/s, fixed (dispatch, combine) s) of tier "scale_up" or "scale_out"."""
        if tier == "scale_up":
            return self.scaleup_bytes_per_s, self.scaleup_latency_s
        return self.scaleout_bytes_per_s, self.scaleout_latency_s


@dataclass(frozen=True)
class CostModel:
    """Everything the stage costs need, derived once per instance."""

    model: Model
    workload: Workload
    rates: Rates
    """The attention pool's rates (EP: every GPU's)."""
    ffn_rates: Rates
    """The FFN pool's rates (AFD; the same as `rates` unless the pools use different hardware)."""
    link_bytes_per_s: float
    """AFD: bandwidth per GPU between the pools, one direction: the slower side's sustained
    scale-out unless the instance gives the link (docs/model.md §17)."""
    link_latency_s: tuple[float, float]
    """AFD: fixed (dispatch, combine) time on the link between the pools: the larger of the two
    pools' scale-out latencies (docs/model.md §17.2)."""
    unit_gpus: int
    """GPUs per deployment unit (g; TP: the group size t)."""
    unit_ranks: int
    """Serving ranks per serving unit, each with its own n sequences: g, or 1 for TP (a group
    shares its sequences, docs/model.md §20.1)."""
    superpod: bool
    """Both pools sit in one superpod's scale-up fabric (never for pools of different hardware)."""
    domain_units: float
    """Units that fit in one scale-up domain (inf when the domain is unbounded)."""
    domain_gpus: int
    """GPUs per scale-up domain of the expert pool: one node, or a rack on a superpod."""
    expert_bytes: float
    """One routed expert of one layer: 3 H M w."""
    shared_bytes: float
    """All shared experts of one layer."""
    token_wire_bytes: float
    """One token's round trip on the wire: (dispatch + combine) * H, 3H by default."""
    dispatch_share: float
    """Dispatch's share of the round trip (FP8 out, BF16 back: 1/3)."""
    attention_layer_bytes: float
    """Attention-side weights streamed per layer stage (projections + averaged dense work)."""
    attention_gemm_flops_per_token: float
    attention_core_flops_per_token: float
    kv_bytes_per_token_layer: float
    """KV bytes one sequence reads per layer at the mean context."""
    kv_bytes_per_sequence: float
    """KV bytes one sequence holds over all layers."""
    attention_static_bytes: float
    """Weights every attention GPU holds (all layers, embeddings, LM head)."""
    side_params_per_layer: float
    """Dense-layer FFN and attention-side shared-expert parameters, averaged over all layers
    (§4.4): the attention GPU's dense work per layer stage."""
    side_params_total: float
    """The same over all layers (held in memory)."""
    shared_flops_per_token: float
    """FLOPs of the shared experts for one token in one MoE layer (2 per multiply-add)."""
    shared_on_ffn: bool
    """AFD with workload.shared_experts = "ffn": the FFN GPUs hold and run the shared experts."""

    @staticmethod
    def of(inst: Instance, architecture: str = "afd", unit_gpus: int | None = None) -> CostModel:
        """The cost model of `inst` for one architecture (`unit_gpus`: the unit size where the
        architecture sizes its own unit, TP's t; default the search's).

        `workload.shared_experts` places AFD's shared experts; EP always keeps them on every
        GPU next to attention (there is no separate FFN pool to move them to), docs/model.md §5.
        """
        m, w, hw = inst.model, inst.workload, inst.hardware
        geo = geometry(m)
        hidden = m.hidden_size
        shared_m = m.shared_intermediate_size or m.moe_intermediate_size
        shared_params = m.num_shared_experts * 3 * hidden * shared_m
        dense_params = 3 * hidden * (m.dense_intermediate_size or 0)
        spec = archspec.get(architecture)
        # Only an architecture with its own expert pool can run the shared experts there (§5.3).
        shared_on_attention = not spec.own_ffn_hardware or w.shared_experts == "attention"
        # Dense work the attention GPU does, averaged over all layer stages (assumption above).
        side_params_total = m.num_dense_layers * dense_params
        if shared_on_attention:
            side_params_total += m.num_moe_layers * shared_params
        side_params_avg = side_params_total / m.num_layers
        ctx = effective_context(m, w.context_tokens)
        kv_token_layer = geo.kv_elements_per_token * m.kv_cache_bytes
        g = unit_gpus or inst.search.unit_gpus
        rates = Rates.of(hw, m)
        ffn_hw = inst.ffn_hardware if spec.own_ffn_hardware and inst.ffn_hardware else hw
        # Pools of equal hardware (compared by value: two loads of one file) are not mixed.
        mixed = ffn_hw != hw
        ffn_rates = Rates.of(ffn_hw, m) if mixed else rates
        link = min(rates.scaleout_bytes_per_s, ffn_rates.scaleout_bytes_per_s)
        link_latency = (
            max(rates.scaleout_latency_s[0], ffn_rates.scaleout_latency_s[0]),
            max(rates.scaleout_latency_s[1], ffn_rates.scaleout_latency_s[1]),
        )
        if inst.link_gbps is not None and spec.own_ffn_hardware:
            link = inst.link_gbps * GIGA
        unbounded = hw.superpod_unbounded and not mixed
        domain_units = math.inf if unbounded else ffn_hw.scaleup_domain_gpus / g
        return CostModel(
            model=m,
            workload=w,
            rates=rates,
            ffn_rates=ffn_rates,
            link_bytes_per_s=link,
            link_latency_s=link_latency,
            unit_gpus=g,
            unit_ranks=g if spec.ranks_per_unit_gpu else 1,
            superpod=hw.superpod and not mixed,
            domain_units=domain_units,
            domain_gpus=ffn_hw.scaleup_domain_gpus,
            expert_bytes=3 * hidden * m.moe_intermediate_size * m.expert_weight_bytes,
            shared_bytes=shared_params * m.expert_weight_bytes,
            token_wire_bytes=(m.dispatch_bytes + m.combine_bytes) * hidden,
            dispatch_share=m.dispatch_bytes / (m.dispatch_bytes + m.combine_bytes),
            attention_layer_bytes=(geo.projection_params + side_params_avg)
            * m.attention_weight_bytes,
            attention_gemm_flops_per_token=2.0 * (geo.projection_params + side_params_avg),
            attention_core_flops_per_token=geo.score_flops_per_ctx * ctx,
            kv_bytes_per_token_layer=kv_token_layer * ctx,
            kv_bytes_per_sequence=kv_token_layer * ctx * m.num_layers,
            attention_static_bytes=(
                m.num_layers * geo.stored_params * m.attention_weight_bytes
                + side_params_total * m.attention_weight_bytes
                + 2 * m.vocab_size * hidden * m.embedding_bytes
            ),
            side_params_per_layer=side_params_avg,
            side_params_total=side_params_total,
            shared_flops_per_token=2.0 * shared_params,
            shared_on_ffn=not shared_on_attention,
        )

    @staticmethod
    def for_deployment(inst: Instance, d: Deployment) -> CostModel:
        """The cost model deployment `d` runs under (its own unit size where it sets one)."""
        return CostModel.of(inst, d.architecture, d.unit_gpus)

    # ---- docs/model.md §3: latency budget -------------------------------------------

    def step_time_s(self) -> float:
        """T = SLO * L_accept: the longest decode step that meets the TPOT target."""
        return self.workload.tpot_ms * 1e-3 * self.workload.mtp_acceptance

    def ranks_per_gpu(self, serving_units: Num, total_units: Num) -> np.ndarray:
        """Serving ranks (each with its own n sequences) per GPU of a deployment of these
        units: Little's law per GPU is sigma_DP x this x n / TPOT (§9; TP: one rank per group
        of t GPUs, §20.1)."""
        ranks = np.asarray(serving_units) * self.unit_ranks
        return ranks / (np.asarray(total_units) * self.unit_gpus)

    def stage_budget_s(self, micro_batches: Num, tpot_s: float | None = None) -> np.ndarray:
        """t_B = (TPOT * L_accept - t_g) / (N_layers * N_BO): the slowest stage that meets a
        TPOT of `tpot_s` (default: the target); <= 0 means nothing can (docs/model.md §3)."""
        step_s = self.step_time_s() if tpot_s is None else tpot_s * self.workload.mtp_acceptance
        gap_s = self.workload.step_gap_ms * 1e-3
        return (step_s - gap_s) / (self.model.num_layers * np.asarray(micro_batches))

    def step_s(self, stage_s: Num, micro_batches: Num) -> np.ndarray:
        """A step at the deployment's own pace: t_g + N_layers * N_BO * stage (§3)."""
        layers = self.model.num_layers
        return self.workload.step_gap_ms * 1e-3 + layers * np.asarray(micro_batches) * stage_s

    def tpot_s(self, stage_s: Num, micro_batches: Num) -> np.ndarray:
        """TPOT at the deployment's own pace: its step over L_accept tokens (§3)."""
        return self.step_s(stage_s, micro_batches) / self.workload.mtp_acceptance

    # ---- fan-out (docs/model.md §6) ---------------------------------------------------

    def domains(self, units: Num) -> np.ndarray:
        """Scale-up domains (nodes) that `units` deployment units span."""
        gpus = np.asarray(units, dtype=np.int64) * self.unit_gpus
        return -(-gpus // self.domain_gpus)

    def fanout_units(self, units: Num) -> np.ndarray:
        """D: distinct scale-up domains of a pool of `units` that a token's K experts reach.

        A token crosses scale-out once per destination scale-up domain (node),
        then fans out over scale-up. With units of one node (g = GPUs per
        node, the default) this is D = min(K, N_F) (docs/model.md §6); with finer
        units several units share a node and its scale-out crossing.
        Node-limited routing caps it at topk_group times the most domains one
        group touches (groups and domains laid out contiguously over the experts:
        group j covers [j, j+1) / n_group, domain i covers [i, i+1) / domains).
        """
        n = self.domains(units)
        k = self.model.experts_per_token
        d = np.minimum(k, n)
        m = self.model
        if self.workload.routing == "node-limited" and m.n_group and m.topk_group:
            groups = np.arange(m.n_group)
            dom = np.asarray(n)[..., None]
            first = (groups * dom) // m.n_group
            last = ((groups + 1) * dom - 1) // m.n_group
            span = (last - first + 1).max(axis=-1)
            d = np.minimum(d, m.topk_group * span)
        return d

    def node_eps(self, eps: Num, pool_gpus: Num) -> np.ndarray:
        """Max/mean load of the hottest node's scale-out ingress, given the hottest GPU's eps.

        Scale-out traffic enters a node through the NICs of the pool's GPUs in it (the
        two-stage path forwards over scale-up), so it follows the node's load: the hottest GPU
        plus the node's other pool GPUs at the mean, (eps + n - 1) / n with n = the pool's GPUs
        per scale-up domain (at most the domain; fewer when the pool is smaller) (§8).
        """
        n = np.minimum(self.domain_gpus, np.asarray(pool_gpus))
        return (np.asarray(eps, dtype=float) + n - 1) / n

    # ---- attention stage (docs/model.md §4) -----------------------------------

    def attention_time_parts_s(self, seqs: Num) -> tuple[np.ndarray, np.ndarray]:
        """(FLOP time, byte time) of one GPU's attention stage for `seqs` sequences of q tokens
        (one micro-batch, one layer): the roofline takes the larger (§4)."""
        tokens = np.asarray(seqs, dtype=float) * self.workload.tokens_per_step
        r = self.rates
        flop_s = (
            tokens * self.attention_core_flops_per_token / r.attention_core_flops
            + tokens * self.attention_gemm_flops_per_token / r.attention_gemm_flops
        )
        byte_s = (
            self.attention_layer_bytes
            + np.asarray(seqs, dtype=float) * self.kv_bytes_per_token_layer
        ) / r.hbm_bytes_per_s
        return flop_s, byte_s

    # ---- grouped GEMM (docs/model.md §5) ---------------------------------------------

    def gemm_rate_flops(self, tokens_per_expert: Num) -> np.ndarray:
        """Achieved grouped-GEMM FLOP/s of the FFN pool (Rates.gemm_rate_flops)."""
        return self.ffn_rates.gemm_rate_flops(tokens_per_expert)

    def gemm_times_s(
        self, pairs: Num, experts: Num, shared_tokens: Num = 0.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """(compute time, weight-streaming time) of one FFN GPU's grouped GEMM.

        Args:
            pairs: expert-token pairs on the GPU (B_rank).
            experts: G, routed experts held (weights streamed once per stage).
            shared_tokens: tokens that also run the shared experts here (AFD, shared on FFN);
                every FFN GPU takes an even share: shared experts are dense, no routing skew.
        """
        m = self.model
        pairs = np.asarray(pairs, dtype=float)
        experts = np.asarray(experts, dtype=float)
        tpe = pairs / np.maximum(experts, 1.0)
        flops = 6.0 * pairs * m.hidden_size * m.moe_intermediate_size
        compute = flops / self.gemm_rate_flops(tpe)
        weights = experts * self.expert_bytes
        if self.shared_on_ffn:
            # shared_flops_per_token already counts the three matrices (docs/model.md §5).
            compute = compute + np.asarray(shared_tokens) * self.shared_flops_per_token / (
                self.ffn_rates.ffn_flops
            )
            weights = weights + self.shared_bytes
        return compute, weights / self.ffn_rates.hbm_bytes_per_s

    def expert_flops(self, pairs: Num) -> np.ndarray:
        """Useful FLOPs of `pairs` expert-token pairs: 6 H M each (three GEMMs, 2 FLOP per MAC)."""
        return (
            6.0
            * np.asarray(pairs, dtype=float)
            * self.model.hidden_size
            * self.model.moe_intermediate_size
        )

    # ---- wire ---------------------------------------------------------------------------

    def wire_time_s(self, copies: Num, bytes_per_s: float | np.ndarray) -> np.ndarray:
        """Time to move `copies` token round trips (dispatch + combine) at `bytes_per_s`."""
        return np.asarray(copies, dtype=float) * self.token_wire_bytes / bytes_per_s

    def wire_parts_s(
        self,
        copies: Num,
        bytes_per_s: float | np.ndarray,
        latency_s: tuple[Num, Num],
        used: Num = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(dispatch, combine) time of one stage on one link: each moves `copies` token copies
        (H * dispatch_bytes, H * combine_bytes each) at `bytes_per_s` after its fixed time;
        nothing at all where the stage does not use the link (`used` False, §3.1, §6.1)."""
        wire = self.wire_time_s(copies, bytes_per_s)
        share = self.dispatch_share
        return (
            np.where(used, latency_s[0] + wire * share, 0.0),
            np.where(used, latency_s[1] + wire * (1.0 - share), 0.0),
        )

    def usable_bytes(self, side: str) -> float:
        """Usable HBM per GPU of one side ("ffn": the FFN pool; else attention/EP)."""
        rates = self.ffn_rates if side == "ffn" else self.rates
        return rates.hbm_usable_bytes

    # ---- memory (docs/model.md §7) --------------------------------------------------------

    def kv_bytes(self, sequences: Num) -> np.ndarray:
        """KV cache of `sequences` in flight on one GPU, all layers, at the mean context."""
        return np.asarray(sequences, dtype=float) * self.kv_bytes_per_sequence

    def attention_buffer_bytes(self, sequences: Num, copies_per_token: Num) -> np.ndarray:
        """Send/receive buffers of one attention GPU: one layer's token copies per in-flight
        micro-batch, which over all micro-batches is the copies of every sequence in flight."""
        return (
            np.asarray(sequences, dtype=float)
            * self.workload.tokens_per_step
            * np.asarray(copies_per_token, dtype=float)
            * self.token_wire_bytes
        )

    def expert_memory_bytes(self, experts: Num, shared_here: bool) -> np.ndarray:
        """HBM for G routed experts (and the shared experts when held here) over all MoE layers."""
        per_layer = np.asarray(experts, dtype=float) * self.expert_bytes
        if shared_here:
            per_layer = per_layer + self.shared_bytes
        return self.model.num_moe_layers * per_layer

    def buffer_bytes(self, pairs_in_flight: Num) -> np.ndarray:
        """Receive buffers of an expert GPU: one layer's pairs per in-flight micro-batch, summed
        over the micro-batches (`pairs_in_flight` is that sum)."""
        return np.asarray(pairs_in_flight, dtype=float) * self.token_wire_bytes


def experts_per_gpu(model: Model, redundant: Num, gpus: Num) -> np.ndarray:
    """G = ceil((E + R) / GPUs): expert slots each expert GPU holds (docs/model.md §5)."""
    total = model.num_routed_experts + np.asarray(redundant, dtype=np.int64)
    gpus = np.asarray(gpus, dtype=np.int64)
    return -(-total // gpus)
