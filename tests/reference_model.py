"""Independent reference evaluator of the AFD / EP / TP cost model (the oracle of issue 8).

Straight-line scalar Python written from the model document (docs/model.md §2-§9, and §20
for tensor parallelism), the assumptions of docs/model.md §16 and the design changes of
issues 7 and 8 (batch semantics, own pace, shared-expert fixes). It imports nothing from
`formulations/` or `solver/` and only the standard library, so a wrong formula in the forward
model cannot hide behind shared code. `evaluate()` returns exactly the breakdown keys of one
deployment.

Symbols (docs/model.md): H hidden size, M expert intermediate size, E routed experts, K experts per
token, S shared experts, g GPUs per deployment unit, n sequences in flight per attention GPU
(all micro-batches), N_BO micro-batches, b = ceil(n / N_BO) the largest micro-batch (it sets
every stage time), q tokens computed per sequence per step, L_accept tokens accepted per step,
sigma_DP the DP imbalance, eps the hottest expert GPU's max/mean load. Tensor parallelism
(docs/model.md §20): t GPUs per group (passed as `unit_gpus`), r groups (`units`).

Conventions taken from the current code where the documents are silent (see the report of
issue 8; they belong in the model document):
  C1  dense-layer FFNs and shared experts are SwiGLU blocks of 3 H I parameters; layer norms,
      biases and the router are ignored; embedding and LM head are two vocab x H matrices.
  C2  attention projections (and the attention-side dense work) run at the FP8 peak when
      attention weights take at most 1 byte, else at the BF16 peak; both attention rates use
      attention_efficiency. Attention-side shared/dense weights are stored and streamed at
      attention_weight_bytes; FFN-side shared experts at expert_weight_bytes.
  C3  the sliding window also caps the KV cache those layers hold (mean context for memory).
  C4  a scale-up domain is `scaleup_domain_gpus` GPUs (the README's "node"); a pool of P GPUs
      spans ceil(P / domain) domains; gpus_per_node is not used. Scale-out ingress enters a
      domain through the NICs of the pool's GPUs in it, so the node-load factor
      (eps + n - 1) / n takes n = min(domain, P) (a pool smaller than a domain has fewer NICs).
  C5  shared experts on the FFN side: every FFN GPU runs an even share X / (N_F g) of the tokens
      (dense work, no routing skew: eps does not scale it), at the constant FFN rate
      (fp8 * ffn_efficiency) even with a calibrated curve; their weights are streamed once per
      stage and held at expert_weight_bytes.
  C6  scale-up carries every expert-token pair of the GPU (EP included: no local shortcut);
      in a superpod domain an attention GPU sends min(K, FFN GPUs) direct copies per token.
  C7  outside a superpod, AFD traffic always crosses scale-out, even for pools of a few GPUs
      that would fit one node (the pools are separate nodes).
  C8  heterogeneous AFD pools (docs/model.md §17): each pool computes, streams and stores on
      its own hardware (attention: roofline, HBM, usable memory; FFN: grouped GEMM and its
      curve, shared experts, weight streaming, scale-up ingress, usable memory, the HFU peak,
      the scale-up domain that counts the fan-out and the node load). Between the pools the
      link is the given bandwidth, else the slower of the two sustained scale-outs; it carries
      both the attention GPU's egress and the FFN nodes' ingress. Pools of different hardware
      never share a superpod's scale-up domain.
  C9  fixed latency (issue 13): every stage time is its fixed time plus its roofline; a link
      stage's fixed time is split into dispatch and combine and counts only where the stage
      uses the link (AFD off a superpod domain: scale-out; EP: scale-out only towards remote
      domains). The AFD link between pools takes the larger of the two pools' scale-out fixed
      times; the attention and grouped-GEMM stages take their own pool's.
  C10 tensor parallelism (docs/model.md §20), where §20 leaves a choice:
      - attention split: MLA keeps q_a (H r_q, only when q_lora_rank is set) and kv_a
        (H (r_kv + d_rope)) and the latent cache whole on every GPU; the rest of P_proj (the
        absorbed form, which equals the stored form, §4.1) is divided by t. GQA, MHA and MFA
        keep K/V projections 2 H d h_kv_t and a cache of 2 d h_kv_t per token and layer,
        h_kv_t = max(h_kv / t, 1) taken as a real number (whole at every allowed t); MFA also
        keeps q_a (H r_q) whole; Q (or q_b) and O are divided by t. MFA uses the same h_kv_t
        rule as GQA, which is §20.2's "h_kv_t = 1" for MFA models with one KV head (Step-3,
        the only one shipped). Score FLOPs per cached token are divided by t.
      - dense-layer FFNs and shared experts always sit with attention (the workload's
        shared_experts is ignored), averaged over the N_layers stages (§4.4) and divided by
        t; embeddings and LM head are divided by t in memory.
      - experts: every GPU runs all b q K pairs of its group on M / t of each expert; the
        grouped-GEMM rate (or calibrated curve) is read at b q K / E tokens per expert (§20.3's
        r(pairs / E), the full pairs, not divided by t); all E slices are streamed every stage.
        pairs_mean = pairs_hot = b q K / t pair-equivalents (one GPU's expert FLOPs over
        6 H M). No expert imbalance, no redundant experts: `eps` and `redundant` are ignored.
      - sigma_DP scales only the throughput: the pairs, the all-reduce payload b q H d_comb and
        the all-reduce buffer n q H d_comb use the group's own full batch.
      - t = 1: no all-reduce at all, its fixed time (`allreduce_scale_up`) included; the other
        [latency] keys (dispatch/combine) never count for TP.
      - memory: the KV cache at the window-capped mean context (C3; §20.5 writes `ctx`).
      - allowed sizes (§20.1) are not checked here; the tests draw only allowed t, with
        t <= scaleup_domain_gpus of the hardware file even where the paper profile makes a
        superpod's domain unbounded.
      - throughput counts r serving ranks (not r t), per GPU over r t GPUs; HFU and OFU use
        the FP8 peak as EP.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

TERA = 1e12
GIGA = 1e9

COMMON_KEYS = (
    "budget_s",
    "micro_batch_size",
    "stage_s",
    "step_gap_s",
    "step_s",
    "tpot_ms",
    "tokens_per_s",
    "tokens_per_s_per_gpu",
    "gpus",
    "ffn_hfu",
    "ffn_ofu",
    "temporal_sparsity",
    "experts_per_gpu",
    "pairs_mean",
    "pairs_hot",
    "attention_flop_s",
    "attention_byte_s",
    "attention_s",
    "attention_latency_s",
    "gemm_compute_s",
    "gemm_weight_s",
    "gemm_s",
    "gemm_latency_s",
    "usable_bytes",
)
AFD_KEYS = COMMON_KEYS + (
    "ffn_usable_bytes",
    "attention_dispatch_s",
    "attention_combine_s",
    "attention_wire_s",
    "ffn_scaleout_dispatch_s",
    "ffn_scaleout_combine_s",
    "ffn_scaleout_s",
    "ffn_scaleup_dispatch_s",
    "ffn_scaleup_combine_s",
    "ffn_scaleup_s",
    "attention_weight_bytes",
    "attention_kv_bytes",
    "attention_buffer_bytes",
    "attention_bytes",
    "ffn_weight_bytes",
    "ffn_buffer_bytes",
    "ffn_bytes",
)
EP_KEYS = COMMON_KEYS + (
    "serial_s",
    "scaleout_dispatch_s",
    "scaleout_combine_s",
    "scaleout_s",
    "scaleup_dispatch_s",
    "scaleup_combine_s",
    "scaleup_s",
    "attention_weight_bytes",
    "expert_weight_bytes",
    "kv_bytes",
    "buffer_bytes",
    "gpu_bytes",
)
TP_KEYS = COMMON_KEYS + (
    "allreduce_latency_s",
    "allreduce_s",
    "serial_s",
    "attention_weight_bytes",
    "expert_weight_bytes",
    "kv_bytes",
    "buffer_bytes",
    "gpu_bytes",
)


def _known(cls: type, table: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in table.items() if k in names}


@dataclass(frozen=True)
class RefModel:
    """Architecture fields of a model file (informational keys dropped)."""

    num_layers: int
    num_dense_layers: int
    hidden_size: int
    num_routed_experts: int
    experts_per_token: int
    num_shared_experts: int
    moe_intermediate_size: int
    vocab_size: int
    attention: str
    num_attention_heads: int
    shared_intermediate_size: int | None = None
    dense_intermediate_size: int | None = None
    num_kv_heads: int | None = None
    head_dim: int | None = None
    q_lora_rank: int | None = None
    kv_lora_rank: int | None = None
    qk_rope_head_dim: int | None = None
    qk_nope_head_dim: int | None = None
    v_head_dim: int | None = None
    sliding_window: int | None = None
    sliding_window_fraction: float = 0.5
    n_group: int | None = None
    topk_group: int | None = None
    expert_weight_bytes: float = 1.0
    attention_weight_bytes: float = 1.0
    embedding_bytes: float = 2.0
    kv_cache_bytes: float = 1.0
    dispatch_bytes: float = 1.0
    combine_bytes: float = 2.0

    @classmethod
    def from_dict(cls, table: dict[str, Any]) -> RefModel:
        return cls(**_known(cls, table))


@dataclass(frozen=True)
class RefHardware:
    """One platform after its profile is applied (per GPU, one direction)."""

    fp8_tflops: float
    bf16_tflops: float
    hbm_gb: float
    hbm_tbps: float
    scaleup_gbps: float
    scaleout_gbps: float
    gpus_per_node: int
    scaleup_domain_gpus: int
    superpod: bool = False
    superpod_unbounded: bool = False
    hbm_usable_fraction: float = 0.9
    ffn_efficiency: float = 1.0
    attention_efficiency: float = 1.0
    hbm_efficiency: float = 1.0
    scaleup_efficiency: float = 1.0
    scaleout_efficiency: float = 1.0
    gemm_calibration: tuple[tuple[float, float], ...] = ()
    # Fixed time of each stage per layer and micro-batch (us), sustained profile only (C9).
    attention_latency_us: float = 0.0
    grouped_gemm_latency_us: float = 0.0
    dispatch_scale_up_latency_us: float = 0.0
    combine_scale_up_latency_us: float = 0.0
    dispatch_scale_out_latency_us: float = 0.0
    combine_scale_out_latency_us: float = 0.0
    # One all-reduce over scale-up (TP, docs/model.md §20.4); 0 when the file has no such key.
    allreduce_scale_up_latency_us: float = 0.0

    @classmethod
    def from_dict(cls, table: dict[str, Any]) -> RefHardware:
        kw = _known(cls, table)
        kw["gemm_calibration"] = tuple(
            (float(t), float(r)) for t, r in kw.get("gemm_calibration", ())
        )
        return cls(**kw)


EFFICIENCIES = ("ffn", "attention", "hbm", "scaleup", "scaleout")


def hardware_from_file(table: dict[str, Any], profile: str) -> RefHardware:
    """Apply a profile to a raw hardware file (README "Instance files").

    sustained: datasheet peaks times [efficiency] (and the calibrated curve, if any);
    datasheet: peaks, efficiency 1; paper: [paper] values over the peaks, efficiency 1, and a
    superpod's scale-up domain taken as unbounded.
    """
    skip = ("efficiency", "latency", "paper", "gemm_calibration", "calibration")
    base = {k: v for k, v in table.items() if k not in skip}
    if profile == "paper":
        base.update(table.get("paper", {}))
        base["superpod_unbounded"] = bool(base.get("superpod", False))
    elif profile == "sustained":
        for key, value in table.get("efficiency", {}).items():
            base[f"{key}_efficiency"] = value
        for key, value in table.get("latency", {}).items():
            base[f"{key}_latency_us"] = value
        cal = table.get("gemm_calibration")
        if cal:
            base["gemm_calibration"] = list(
                zip(cal["tokens_per_expert"], cal["tflops"], strict=True)
            )
    elif profile != "datasheet":
        raise ValueError(f"unknown profile {profile!r}")
    return RefHardware.from_dict(base)


@dataclass(frozen=True)
class RefWorkload:
    tpot_ms: float
    context_tokens: float
    mtp_acceptance: float = 1.0
    tokens_per_step: float = 1.0
    step_gap_ms: float = 0.0
    dp_imbalance: float = 1.0
    routing: str = "worst-case"
    shared_experts: str = "attention"

    @classmethod
    def from_dict(cls, table: dict[str, Any]) -> RefWorkload:
        return cls(**_known(cls, table))


@dataclass(frozen=True)
class RefDeployment:
    architecture: str
    sequences_per_gpu: int
    micro_batches: int
    redundant: int = 0
    attention_units: int = 0
    ffn_units: int = 0
    units: int = 0


# ---- architecture -------------------------------------------------------------------------


def attention_layer(m: RefModel) -> tuple[int, int, int]:
    """(projection parameters, cached elements per token, core FLOPs per query and cached token)
    of one attention layer at decode time. Multiply-add = 2 FLOP."""
    h, heads = m.hidden_size, m.num_attention_heads
    if m.attention == "mla":
        # Weight-absorbed MLA: the query's no-RoPE part is mapped into the 512-dim latent
        # (W_UK folded in), scores use latent + RoPE (576 dims), values stay latent (512) and
        # W_UV maps each head's 512-dim result to v_head_dim before the output projection.
        lat, rope = m.kv_lora_rank or 0, m.qk_rope_head_dim or 0
        nope, vdim = m.qk_nope_head_dim or 0, m.v_head_dim or 0
        q_head = nope + rope
        if m.q_lora_rank:
            q_proj = h * m.q_lora_rank + m.q_lora_rank * heads * q_head
        else:
            q_proj = h * heads * q_head
        latent_down = h * (lat + rope)
        absorb_k = heads * nope * lat
        absorb_v = heads * lat * vdim
        out = heads * vdim * h
        params = q_proj + latent_down + absorb_k + absorb_v + out
        return params, lat + rope, 2 * heads * (lat + rope) + 2 * heads * lat
    hd = m.head_dim or 0
    kv_heads = heads if m.attention == "mha" else (m.num_kv_heads or 0)
    if m.attention == "mfa":
        q_proj = h * (m.q_lora_rank or 0) + (m.q_lora_rank or 0) * heads * hd
    else:
        q_proj = h * heads * hd
    params = q_proj + 2 * h * kv_heads * hd + heads * hd * h
    # QK^T and PV: heads * hd multiply-adds each per cached token.
    return params, 2 * kv_heads * hd, 2 * heads * hd + 2 * heads * hd


def attention_layer_tp(m: RefModel, t: int) -> tuple[float, float, float]:
    """`attention_layer` on one GPU of a TP group of t (docs/model.md §20.2, C10): (projection
    parameters, cached elements per token, core FLOPs per query and cached token)."""
    h, heads = m.hidden_size, m.num_attention_heads
    proj, kv_elems, core_per_ctx = attention_layer(m)
    if m.attention == "mla":
        # q_a and kv_a are low-rank down-projections without a head dimension: whole on every
        # GPU, as is the latent + RoPE cache. q_b (or the full-rank q), W_UK, W_UV, W_O: / t.
        lat, rope = m.kv_lora_rank or 0, m.qk_rope_head_dim or 0
        replicated = h * (m.q_lora_rank or 0) + h * (lat + rope)
        return replicated + (proj - replicated) / t, float(kv_elems), core_per_ctx / t
    hd = m.head_dim or 0
    kv_heads = heads if m.attention == "mha" else (m.num_kv_heads or 0)
    kv_heads_t = max(kv_heads / t, 1)  # beyond h_kv a KV head is replicated
    replicated = h * (m.q_lora_rank or 0) if m.attention == "mfa" else 0  # MFA's q_a
    kv_proj = 2 * h * kv_heads * hd
    kv_proj_t = 2 * h * kv_heads_t * hd
    proj_t = replicated + (proj - replicated - kv_proj) / t + kv_proj_t
    return proj_t, 2 * kv_heads_t * hd, core_per_ctx / t


def mean_context(m: RefModel, ctx: float) -> float:
    """Cached tokens a layer reads, averaged over layers (window layers see at most the window)."""
    if m.sliding_window is None:
        return float(ctx)
    f = m.sliding_window_fraction
    return (1.0 - f) * ctx + f * min(float(ctx), float(m.sliding_window))


def shared_params(m: RefModel) -> int:
    inter = m.shared_intermediate_size or m.moe_intermediate_size
    return m.num_shared_experts * 3 * m.hidden_size * inter


def attention_side_params(m: RefModel, shared_on_attention: bool) -> int:
    """Dense work the attention GPUs hold over all layers: dense-layer FFNs (+ shared experts)."""
    total = m.num_dense_layers * 3 * m.hidden_size * (m.dense_intermediate_size or 0)
    if shared_on_attention:
        total += (m.num_layers - m.num_dense_layers) * shared_params(m)
    return total


def groups_span(n_group: int, domains: int) -> int:
    """Most scale-up domains one expert group touches, groups and domains laid out contiguously
    over the experts (group j covers [j/n_group, (j+1)/n_group), domain i [i/d, (i+1)/d))."""
    worst = 0
    for j in range(n_group):
        first = (j * domains) // n_group
        last = ((j + 1) * domains - 1) // n_group
        worst = max(worst, last - first + 1)
    return worst


def fanout(m: RefModel, w: RefWorkload, domains: int) -> int:
    """D: destination domains a token reaches in a pool spanning `domains` domains."""
    d = min(m.experts_per_token, domains)
    if w.routing == "node-limited" and m.n_group and m.topk_group:
        d = min(d, m.topk_group * groups_span(m.n_group, domains))
    return d


def gemm_rate(hw: RefHardware, tokens_per_expert: float) -> float:
    """Grouped-GEMM FLOP/s: fp8 * ffn_efficiency, or the calibrated curve interpolated linearly
    in tokens per expert and flat outside the measured points."""
    pts = sorted(hw.gemm_calibration)
    if not pts:
        return hw.fp8_tflops * TERA * hw.ffn_efficiency
    if tokens_per_expert <= pts[0][0]:
        return pts[0][1] * TERA
    if tokens_per_expert >= pts[-1][0]:
        return pts[-1][1] * TERA
    for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
        if x0 <= tokens_per_expert <= x1:
            return (y0 + (y1 - y0) * (tokens_per_expert - x0) / (x1 - x0)) * TERA
    raise AssertionError("unreachable")


# ---- one deployment -------------------------------------------------------------------------


def evaluate_tp(
    m: RefModel, hw: RefHardware, w: RefWorkload, t: int, d: RefDeployment
) -> dict[str, float]:
    """Every breakdown term of one TP deployment (docs/model.md §20, C10): r = d.units groups
    of t GPUs; n = d.sequences_per_gpu is a group's batch (every GPU of the group sees it)."""
    r_groups = d.units
    h, inter, k = m.hidden_size, m.moe_intermediate_size, m.experts_per_token
    experts = m.num_routed_experts
    n_layers, n_moe = m.num_layers, m.num_layers - m.num_dense_layers
    q, sigma = w.tokens_per_step, w.dp_imbalance
    n, n_bo = d.sequences_per_gpu, d.micro_batches
    b = -(-n // n_bo)

    fp8, bf16 = hw.fp8_tflops * TERA, hw.bf16_tflops * TERA
    proj_rate = (fp8 if m.attention_weight_bytes <= 1.0 else bf16) * hw.attention_efficiency
    core_rate = bf16 * hw.attention_efficiency
    hbm = hw.hbm_tbps * TERA * hw.hbm_efficiency
    up = hw.scaleup_gbps * GIGA * hw.scaleup_efficiency
    usable = hw.hbm_gb * GIGA * hw.hbm_usable_fraction

    # Budget (§3).
    budget = (w.tpot_ms / 1000 * w.mtp_acceptance - w.step_gap_ms / 1000) / (n_layers * n_bo)

    # Attention split over t (§20.2); dense layers and shared experts always here, / t.
    proj_t, kv_elems_t, core_per_ctx_t = attention_layer_tp(m, t)
    side_total = attention_side_params(m, True)
    side_t = side_total / n_layers / t
    per_stage_t = proj_t + side_t
    ctx = mean_context(m, w.context_tokens)
    kv_layer_t = kv_elems_t * ctx * m.kv_cache_bytes
    att_flop = b * q * (core_per_ctx_t * ctx / core_rate + 2 * per_stage_t / proj_rate)
    att_byte = (per_stage_t * m.attention_weight_bytes + b * kv_layer_t) / hbm
    att_fixed = hw.attention_latency_us * 1e-6
    att = att_fixed + max(att_flop, att_byte)

    # Experts split over t (§20.3): all E experts on M / t, every pair of the micro-batch.
    pairs = b * q * k
    inter_t = inter / t
    gemm_compute = 6 * pairs * h * inter_t / gemm_rate(hw, pairs / experts)
    gemm_weight = experts * 3 * h * inter_t * m.expert_weight_bytes / hbm
    gemm_fixed = hw.grouped_gemm_latency_us * 1e-6
    gemm = gemm_fixed + max(gemm_compute, gemm_weight)

    # Two ring all-reduces per layer over scale-up (§20.4).
    hidden = b * q * h * m.combine_bytes
    if t > 1:
        ar_fixed = 2 * hw.allreduce_scale_up_latency_us * 1e-6
        allreduce = 2 * (hw.allreduce_scale_up_latency_us * 1e-6 + 2 * (t - 1) / t * hidden / up)
    else:
        ar_fixed = 0.0
        allreduce = 0.0

    # Stage (§20.5): one micro-batch exposes the all-reduces, two or more hide them.
    serial = att + gemm + (allreduce if n_bo == 1 else 0.0)
    stage = max(serial, allreduce)

    # Memory (§20.5).
    static_bytes = (
        n_layers * proj_t * m.attention_weight_bytes
        + side_total * m.attention_weight_bytes / t
        + 2 * m.vocab_size * h * m.embedding_bytes / t
    )
    expert_bytes = n_moe * experts * 3 * h * inter_t * m.expert_weight_bytes
    kv_bytes = n * n_layers * kv_layer_t
    buffer_bytes = n * q * h * m.combine_bytes

    # Own pace (§3, §9.1, §20.1): r serving ranks, r t GPUs.
    gap = w.step_gap_ms / 1000
    step = gap + n_layers * n_bo * stage
    tokens_per_s = sigma * r_groups * n * w.mtp_acceptance / step
    gpus = r_groups * t
    pairs_gpu = pairs / t  # one GPU's expert work in pair equivalents
    useful = 6 * pairs_gpu * h * inter
    out = {
        "budget_s": budget,
        "micro_batch_size": float(b),
        "stage_s": stage,
        "step_gap_s": gap,
        "step_s": step,
        "tpot_ms": step / w.mtp_acceptance * 1000,
        "tokens_per_s": tokens_per_s,
        "tokens_per_s_per_gpu": tokens_per_s / gpus,
        "gpus": float(gpus),
        "ffn_hfu": useful / (stage * fp8),
        "ffn_ofu": useful / (gemm * fp8),
        "temporal_sparsity": gemm / stage,
        "experts_per_gpu": float(experts),
        "pairs_mean": pairs_gpu,
        "pairs_hot": pairs_gpu,
        "attention_flop_s": att_flop,
        "attention_byte_s": att_byte,
        "attention_s": att,
        "attention_latency_s": att_fixed,
        "gemm_compute_s": gemm_compute,
        "gemm_weight_s": gemm_weight,
        "gemm_s": gemm,
        "gemm_latency_s": gemm_fixed,
        "usable_bytes": usable,
        "allreduce_latency_s": ar_fixed,
        "allreduce_s": allreduce,
        "serial_s": serial,
        "attention_weight_bytes": static_bytes,
        "expert_weight_bytes": expert_bytes,
        "kv_bytes": kv_bytes,
        "buffer_bytes": buffer_bytes,
        "gpu_bytes": static_bytes + expert_bytes + kv_bytes + buffer_bytes,
    }
    assert set(out) == set(TP_KEYS), sorted(set(out) ^ set(TP_KEYS))
    return {key: float(out[key]) for key in TP_KEYS}


def evaluate(
    m: RefModel,
    hw: RefHardware,
    w: RefWorkload,
    unit_gpus: int,
    eps: float,
    d: RefDeployment,
    ffn_hw: RefHardware | None = None,
    link_gbps: float | None = None,
) -> dict[str, float]:
    """Every breakdown term of one AFD, EP or TP deployment (SI units: s, bytes, FLOP).

    `hw` is the attention pool's hardware (EP, TP: every GPU's); `ffn_hw` AFD's FFN pool
    hardware (default `hw`); `link_gbps` the AFD link between the pools (default: C8). For TP
    `unit_gpus` is the group size t and `d.units` the groups r; `eps` is not used (C10).
    """
    if d.architecture == "tp":
        return evaluate_tp(m, hw, w, unit_gpus, d)
    afd = d.architecture == "afd"
    g = unit_gpus
    h, inter, k = m.hidden_size, m.moe_intermediate_size, m.experts_per_token
    n_layers, n_moe = m.num_layers, m.num_layers - m.num_dense_layers
    q, sigma = w.tokens_per_step, w.dp_imbalance
    n, n_bo = d.sequences_per_gpu, d.micro_batches
    b = -(-n // n_bo)

    # Rates (README "Instance files": peak times efficiency).
    fp8, bf16 = hw.fp8_tflops * TERA, hw.bf16_tflops * TERA
    proj_rate = (fp8 if m.attention_weight_bytes <= 1.0 else bf16) * hw.attention_efficiency
    core_rate = bf16 * hw.attention_efficiency
    hbm = hw.hbm_tbps * TERA * hw.hbm_efficiency
    up = hw.scaleup_gbps * GIGA * hw.scaleup_efficiency
    out = hw.scaleout_gbps * GIGA * hw.scaleout_efficiency
    usable = hw.hbm_gb * GIGA * hw.hbm_usable_fraction
    dispatch_tok, combine_tok = h * m.dispatch_bytes, h * m.combine_bytes

    # Budget (docs/model.md §3).
    budget = (w.tpot_ms / 1000 * w.mtp_acceptance - w.step_gap_ms / 1000) / (n_layers * n_bo)

    # Attention GPU (docs/model.md §4).
    # EP always keeps the shared experts with attention (issue 8 fix).
    shared_on_attention = (not afd) or w.shared_experts == "attention"
    proj, kv_elems, core_per_ctx = attention_layer(m)
    side_total = attention_side_params(m, shared_on_attention)
    per_stage_params = proj + side_total / n_layers
    ctx = mean_context(m, w.context_tokens)
    kv_seq_layer = kv_elems * m.kv_cache_bytes * ctx
    att_flop = b * q * core_per_ctx * ctx / core_rate + b * q * 2 * per_stage_params / proj_rate
    att_byte = (per_stage_params * m.attention_weight_bytes + b * kv_seq_layer) / hbm
    att_fixed = hw.attention_latency_us * 1e-6
    att = att_fixed + max(att_flop, att_byte)
    static_bytes = (
        n_layers * proj * m.attention_weight_bytes
        + side_total * m.attention_weight_bytes
        + 2 * m.vocab_size * h * m.embedding_bytes
    )
    kv_bytes = n * kv_seq_layer * n_layers

    expert_bytes = 3 * h * inter * m.expert_weight_bytes
    domain = hw.scaleup_domain_gpus
    r: dict[str, float] = {}

    if afd:
        fh = hw if ffn_hw is None else ffn_hw
        mixed = fh != hw
        # FFN pool rates (C8); the attention GPU keeps hw's rates above.
        f_fp8 = fh.fp8_tflops * TERA
        f_hbm = fh.hbm_tbps * TERA * fh.hbm_efficiency
        f_up = fh.scaleup_gbps * GIGA * fh.scaleup_efficiency
        f_out = fh.scaleout_gbps * GIGA * fh.scaleout_efficiency
        if link_gbps is not None:
            link_bw = link_gbps * GIGA
        else:
            link_bw = min(out, f_out)
        domain = fh.scaleup_domain_gpus
        n_a, n_f = d.attention_units, d.ffn_units
        ffn_gpus = n_f * g
        experts = -(-(m.num_routed_experts + d.redundant) // ffn_gpus)
        inside = (
            hw.superpod
            and not mixed
            and (hw.superpod_unbounded or (n_a + n_f) * g <= hw.scaleup_domain_gpus)
        )
        x = sigma * n_a * g * b * q  # tokens of one micro-batch reaching the FFN pool
        pairs_mean = x * k / ffn_gpus
        pairs_hot = pairs_mean * eps
        dd = fanout(m, w, -(-ffn_gpus // domain))
        per_domain = min(domain, ffn_gpus)
        node_load = (eps + per_domain - 1) / per_domain
        # Fixed times (C9): the link between pools waits for the slower side's NIC stack.
        link_fix = (
            max(hw.dispatch_scale_out_latency_us, fh.dispatch_scale_out_latency_us) * 1e-6,
            max(hw.combine_scale_out_latency_us, fh.combine_scale_out_latency_us) * 1e-6,
        )
        up_fix = (fh.dispatch_scale_up_latency_us * 1e-6, fh.combine_scale_up_latency_us * 1e-6)
        # FFN GPU: scale-out ingress (one copy per destination domain, node load), scale-up.
        if inside:
            r["ffn_scaleout_dispatch_s"] = r["ffn_scaleout_combine_s"] = 0.0
        else:
            out_copies = x * dd / ffn_gpus * node_load
            r["ffn_scaleout_dispatch_s"] = link_fix[0] + out_copies * dispatch_tok / link_bw
            r["ffn_scaleout_combine_s"] = link_fix[1] + out_copies * combine_tok / link_bw
        r["ffn_scaleup_dispatch_s"] = up_fix[0] + pairs_hot * dispatch_tok / f_up
        r["ffn_scaleup_combine_s"] = up_fix[1] + pairs_hot * combine_tok / f_up
        # Grouped GEMM (+ shared experts on the FFN side: 2 S 3 H M_s FLOP per token).
        tpe = pairs_hot / experts
        compute = 6 * pairs_hot * h * inter / gemm_rate(fh, tpe)
        weights = experts * expert_bytes
        ffn_shared_bytes = 0.0
        if not shared_on_attention:
            shared_tokens = x / ffn_gpus  # an even share: no eps
            compute += shared_tokens * 2 * shared_params(m) / (f_fp8 * fh.ffn_efficiency)
            ffn_shared_bytes = shared_params(m) * m.expert_weight_bytes
            weights += ffn_shared_bytes
        r["gemm_compute_s"] = compute
        r["gemm_weight_s"] = weights / f_hbm
        r["gemm_latency_s"] = fh.grouped_gemm_latency_us * 1e-6
        # Attention GPU's own link: D copies on the link, or direct copies on scale-up.
        copies = min(k, ffn_gpus) if inside else dd
        link = up if inside else link_bw
        if inside:
            att_fix = (
                hw.dispatch_scale_up_latency_us * 1e-6,
                hw.combine_scale_up_latency_us * 1e-6,
            )
        else:
            att_fix = link_fix
        r["attention_dispatch_s"] = att_fix[0] + b * q * copies * dispatch_tok / link
        r["attention_combine_s"] = att_fix[1] + b * q * copies * combine_tok / link
        # Memory: buffers hold one layer's traffic of all n sequences in flight.
        r["attention_weight_bytes"] = static_bytes
        r["attention_kv_bytes"] = kv_bytes
        r["attention_buffer_bytes"] = n * q * copies * (dispatch_tok + combine_tok)
        pairs_hot_all = sigma * n_a * g * n * q * k / ffn_gpus * eps
        r["ffn_weight_bytes"] = n_moe * (experts * expert_bytes + ffn_shared_bytes)
        r["ffn_buffer_bytes"] = pairs_hot_all * (dispatch_tok + combine_tok)
        serving, gpus = n_a * g, (n_a + n_f) * g
    else:
        units = d.units
        all_gpus = units * g
        experts = -(-(m.num_routed_experts + d.redundant) // all_gpus)
        inside = hw.superpod and (hw.superpod_unbounded or all_gpus <= domain)
        tokens = sigma * b * q
        pairs_mean = tokens * k
        pairs_hot = pairs_mean * eps
        domains = -(-all_gpus // domain)
        remote = min(fanout(m, w, domains), domains - 1)
        per_domain = min(domain, all_gpus)
        node_load = (eps + per_domain - 1) / per_domain
        if inside or remote == 0:  # no all-to-all over the NICs at all
            r["scaleout_dispatch_s"] = r["scaleout_combine_s"] = 0.0
        else:
            out_copies = tokens * remote * node_load
            r["scaleout_dispatch_s"] = (
                hw.dispatch_scale_out_latency_us * 1e-6 + out_copies * dispatch_tok / out
            )
            r["scaleout_combine_s"] = (
                hw.combine_scale_out_latency_us * 1e-6 + out_copies * combine_tok / out
            )
        r["scaleup_dispatch_s"] = (
            hw.dispatch_scale_up_latency_us * 1e-6 + pairs_hot * dispatch_tok / up
        )
        r["scaleup_combine_s"] = (
            hw.combine_scale_up_latency_us * 1e-6 + pairs_hot * combine_tok / up
        )
        r["gemm_compute_s"] = 6 * pairs_hot * h * inter / gemm_rate(hw, pairs_hot / experts)
        r["gemm_weight_s"] = experts * expert_bytes / hbm
        r["gemm_latency_s"] = hw.grouped_gemm_latency_us * 1e-6
        r["attention_weight_bytes"] = static_bytes
        r["expert_weight_bytes"] = n_moe * experts * expert_bytes
        r["kv_bytes"] = kv_bytes
        r["buffer_bytes"] = sigma * n * q * k * eps * (dispatch_tok + combine_tok)
        serving = gpus = all_gpus

    gemm = r["gemm_latency_s"] + max(r["gemm_compute_s"], r["gemm_weight_s"])
    if afd:
        r["attention_wire_s"] = r["attention_dispatch_s"] + r["attention_combine_s"]
        r["ffn_scaleout_s"] = r["ffn_scaleout_dispatch_s"] + r["ffn_scaleout_combine_s"]
        r["ffn_scaleup_s"] = r["ffn_scaleup_dispatch_s"] + r["ffn_scaleup_combine_s"]
        r["attention_bytes"] = (
            r["attention_weight_bytes"] + r["attention_kv_bytes"] + r["attention_buffer_bytes"]
        )
        r["ffn_bytes"] = r["ffn_weight_bytes"] + r["ffn_buffer_bytes"]
        r["ffn_usable_bytes"] = fh.hbm_gb * GIGA * fh.hbm_usable_fraction
        peak = f_fp8
        stage = max(att, r["attention_wire_s"], gemm, r["ffn_scaleout_s"], r["ffn_scaleup_s"])
    else:
        r["scaleout_s"] = r["scaleout_dispatch_s"] + r["scaleout_combine_s"]
        r["scaleup_s"] = r["scaleup_dispatch_s"] + r["scaleup_combine_s"]
        r["gpu_bytes"] = (
            r["attention_weight_bytes"]
            + r["expert_weight_bytes"]
            + r["kv_bytes"]
            + r["buffer_bytes"]
        )
        # One micro-batch: nothing overlaps the all-to-all (docs/model.md §6.5).
        exposed = r["scaleout_s"] + r["scaleup_s"] if n_bo == 1 else 0.0
        r["serial_s"] = att + gemm + exposed
        stage = max(r["serial_s"], r["scaleout_s"], r["scaleup_s"])
        peak = fp8

    # Own pace (docs/model.md §3, §9.1).
    gap = w.step_gap_ms / 1000
    step = gap + n_layers * n_bo * stage
    tokens_per_s = sigma * serving * n * w.mtp_acceptance / step
    useful = 6 * pairs_mean * h * inter
    r.update(
        budget_s=budget,
        micro_batch_size=float(b),
        stage_s=stage,
        step_gap_s=gap,
        step_s=step,
        tpot_ms=step / w.mtp_acceptance * 1000,
        tokens_per_s=tokens_per_s,
        tokens_per_s_per_gpu=tokens_per_s / gpus,
        gpus=float(gpus),
        ffn_hfu=useful / (stage * peak),
        ffn_ofu=useful / (gemm * peak),
        temporal_sparsity=gemm / stage,
        experts_per_gpu=float(experts),
        pairs_mean=pairs_mean,
        pairs_hot=pairs_hot,
        attention_flop_s=att_flop,
        attention_byte_s=att_byte,
        attention_s=att,
        attention_latency_s=att_fixed,
        gemm_s=gemm,
        usable_bytes=usable,
    )
    keys = AFD_KEYS if afd else EP_KEYS
    assert set(r) == set(keys), sorted(set(r) ^ set(keys))
    return {key: float(r[key]) for key in keys}
