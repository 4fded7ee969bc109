"""Typed, frozen inputs of the cost model and the integer programs (docs/model.md §1).

Every field carries its unit and allowed range in its metadata; `solver.io.schema`
validates instance files against exactly these declarations, so the ranges
live in one place. Derived quantities (KV bytes, attention FLOPs, ...) are
never stored here: `formulations.attention` and `formulations.costs` compute
them from the architecture.

Over 400 lines on purpose: one declaration per input field, each with its unit, range and
words; splitting the declarations would split the schema they are.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from formulations import archspec

_MISSING = dataclasses.MISSING


def spec(
    doc: str,
    *,
    default: Any = _MISSING,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
    choices: tuple[str, ...] | None = None,
    info: bool = False,
) -> Any:
    """A dataclass field with its documentation and allowed range.

    Args:
        doc: what the field is, with its unit.
        default: value when the file omits the field; omit for required fields.
        gt, ge, le: numeric bounds (greater than, at least, at most).
        choices: allowed strings.
        info: informational field, kept for provenance, never used in math.
    """
    meta = {"doc": doc, "gt": gt, "ge": ge, "le": le, "choices": choices, "info": info}
    if default is _MISSING:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


ATTENTION_TYPES = ("mla", "gqa", "mha", "mfa")


@dataclass(frozen=True)
class Model:
    """One MoE model's architecture (facts from its published config)."""

    name: str = spec("model name")
    num_layers: int = spec("decoder layers, MTP layers excluded", ge=1, le=1000)
    num_dense_layers: int = spec("leading dense (non-MoE) layers", ge=0, le=1000)
    hidden_size: int = spec("H, hidden size (elements)", ge=1, le=1_000_000)
    num_routed_experts: int = spec("E, routed experts per MoE layer", ge=1, le=65_536)
    experts_per_token: int = spec("K, routed experts per token (top-k)", ge=1, le=1024)
    num_shared_experts: int = spec("S, shared experts per MoE layer", ge=0, le=64)
    moe_intermediate_size: int = spec(
        "M, routed expert intermediate size (elements)", ge=1, le=1_000_000
    )
    vocab_size: int = spec("vocabulary size (tokens)", ge=1, le=10_000_000)
    attention: str = spec("attention type", choices=ATTENTION_TYPES)
    num_attention_heads: int = spec("query heads", ge=1, le=4096)
    shared_intermediate_size: int | None = spec(
        "shared expert intermediate size (elements); default M", default=None, ge=1, le=1_000_000
    )
    dense_intermediate_size: int | None = spec(
        "dense-layer FFN intermediate size (elements); required with dense layers",
        default=None,
        ge=1,
        le=1_000_000,
    )
    num_kv_heads: int | None = spec(
        "KV heads (gqa, mfa); mha uses the query heads", default=None, ge=1, le=4096
    )
    head_dim: int | None = spec("head dimension (gqa, mha, mfa)", default=None, ge=1, le=4096)
    q_lora_rank: int | None = spec(
        "low-rank query dimension (mla, mfa)", default=None, ge=1, le=65_536
    )
    kv_lora_rank: int | None = spec("latent KV dimension (mla)", default=None, ge=1, le=65_536)
    qk_rope_head_dim: int | None = spec(
        "decoupled RoPE key dimension (mla)", default=None, ge=1, le=4096
    )
    qk_nope_head_dim: int | None = spec(
        "non-RoPE query/key head dimension (mla)", default=None, ge=1, le=4096
    )
    v_head_dim: int | None = spec("value head dimension (mla)", default=None, ge=1, le=4096)
    sliding_window: int | None = spec(
        "sliding-window length (tokens)", default=None, ge=1, le=100_000_000
    )
    sliding_window_fraction: float = spec(
        "fraction of layers using the sliding window (alternating layers: 0.5)",
        default=0.5,
        ge=0.0,
        le=1.0,
    )
    n_group: int | None = spec(
        "expert groups for node-limited routing", default=None, ge=1, le=65_536
    )
    topk_group: int | None = spec(
        "groups a token may reach (node-limited routing)", default=None, ge=1, le=65_536
    )
    expert_weight_bytes: float = spec(
        "bytes per expert weight (FP8 = 1)", default=1.0, gt=0.0, le=8.0
    )
    attention_weight_bytes: float = spec(
        "bytes per attention/dense weight (FP8 = 1)", default=1.0, gt=0.0, le=8.0
    )
    embedding_bytes: float = spec(
        "bytes per embedding/LM-head weight (BF16 = 2)", default=2.0, gt=0.0, le=8.0
    )
    kv_cache_bytes: float = spec(
        "bytes per cached KV element (FP8 = 1)", default=1.0, gt=0.0, le=8.0
    )
    dispatch_bytes: float = spec(
        "bytes per hidden element on dispatch (FP8 = 1)", default=1.0, gt=0.0, le=8.0
    )
    combine_bytes: float = spec(
        "bytes per hidden element on combine (BF16 = 2)", default=2.0, gt=0.0, le=8.0
    )
    # Informational: provenance and catalogue facts, checked by tests, unused by the math.
    total_params_b: float | None = spec(
        "total parameters (billions)", default=None, info=True, ge=0.0, le=1_000_000.0
    )
    active_params_b: float | None = spec(
        "active parameters (billions)", default=None, info=True, ge=0.0, le=1_000_000.0
    )
    mtp_layers: int | None = spec(
        "multi-token-prediction layers", default=None, info=True, ge=0, le=64
    )
    max_context: int | None = spec(
        "maximum context (tokens)", default=None, info=True, ge=1, le=1_000_000_000
    )
    native_weight_dtype: str | None = spec("checkpoint weight dtype", default=None, info=True)
    source: str | None = spec("where the facts come from", default=None, info=True)
    unverified: tuple[str, ...] = spec("facts not confirmed at the source", default=(), info=True)

    @property
    def num_moe_layers(self) -> int:
        """N_moe = N_layers - N_dense (docs/model.md §1)."""
        return self.num_layers - self.num_dense_layers


PROFILES = ("sustained", "datasheet", "paper")
LATENCY_STAGES = (
    "attention",
    "grouped_gemm",
    "dispatch_scale_up",
    "combine_scale_up",
    "dispatch_scale_out",
    "combine_scale_out",
    "allreduce_scale_up",
)
"""Stages with a fixed time (the `[latency]` keys); Hardware has `<stage>_latency_us`."""
_LATENCY: dict[str, Any] = {"default": 0.0, "ge": 0.0, "le": 1_000_000.0}


@dataclass(frozen=True)
class Calibration:
    """What `afd-solver calibrate` fitted: the `[calibration]` table of a hardware file.

    `parameters` name what was fitted (`efficiency.<key>`, `latency.<stage>`,
    `gemm_calibration.<tokens per expert>`, docs/model.md §19) and `covariance` is the
    covariance of their estimates in the file's units, which `solve --uncertainty` samples. The
    estimates are the hardware's own fields (nothing is stored twice).
    """

    parameters: tuple[str, ...]
    covariance: tuple[tuple[float, ...], ...]
    rows: int
    residual_rms: float
    """RMS of log(predicted / measured) over the rows."""
    fixed: tuple[str, ...] = ()
    """Parameters the rows could not identify (kept at their catalogue values)."""
    source: str = ""


@dataclass(frozen=True)
class Hardware:
    """One GPU platform after its profile is applied (all bandwidths per GPU, unidirectional).

    `*_efficiency` are the achieved fractions of each peak and `*_latency_us` the fixed time of
    each stage (docs/model.md §3.1); the `paper` and `datasheet` profiles set them to 1.0 and 0.
    """

    name: str = spec("platform name")
    fp8_tflops: float = spec("peak dense FP8 rate (TFLOP/s)", gt=0.0, le=1_000_000.0)
    bf16_tflops: float = spec("peak dense BF16 rate (TFLOP/s)", gt=0.0, le=1_000_000.0)
    hbm_gb: float = spec("HBM capacity per GPU (GB = 1e9 bytes)", gt=0.0, le=100_000.0)
    hbm_tbps: float = spec("HBM bandwidth per GPU (TB/s)", gt=0.0, le=1000.0)
    scaleup_gbps: float = spec(
        "scale-up (NVLink-class) bandwidth per GPU, one direction (GB/s)", gt=0.0, le=100_000.0
    )
    scaleout_gbps: float = spec(
        "scale-out (RDMA NIC) bandwidth per GPU, one direction (GB/s)", gt=0.0, le=100_000.0
    )
    gpus_per_node: int = spec("GPUs per physical node or tray", ge=1, le=1024)
    scaleup_domain_gpus: int = spec("GPUs in one scale-up domain", ge=1, le=1_000_000)
    superpod: bool = spec("scale-up domain spans many nodes (rack-scale system)", default=False)
    hbm_usable_fraction: float = spec(
        "fraction of HBM usable for weights, KV cache and buffers", default=0.9, gt=0.0, le=1.0
    )
    ffn_efficiency: float = spec(
        "achieved fraction of FP8 peak in grouped GEMM", default=1.0, gt=0.0, le=1.0
    )
    attention_efficiency: float = spec(
        "achieved fraction of peak in attention kernels", default=1.0, gt=0.0, le=1.0
    )
    hbm_efficiency: float = spec("achieved fraction of HBM bandwidth", default=1.0, gt=0.0, le=1.0)
    scaleup_efficiency: float = spec(
        "achieved fraction of scale-up bandwidth", default=1.0, gt=0.0, le=1.0
    )
    scaleout_efficiency: float = spec(
        "achieved fraction of scale-out bandwidth", default=1.0, gt=0.0, le=1.0
    )
    gemm_calibration: tuple[tuple[float, float], ...] = spec(
        "measured grouped-GEMM rate: (tokens per expert, achieved TFLOP/s) points; "
        "replaces fp8_tflops * ffn_efficiency when given (2 to 64 points, tokens per expert "
        "in (0, 1e9], TFLOP/s in (0, 1e6])",
        default=(),
    )
    superpod_unbounded: bool = spec(
        "treat the scale-up domain as unbounded (the paper's superpod assumption)", default=False
    )
    attention_latency_us: float = spec(
        "fixed time of the attention stage per layer and micro-batch (us)", **_LATENCY
    )
    grouped_gemm_latency_us: float = spec(
        "fixed time of the grouped-GEMM stage per layer and micro-batch (us)", **_LATENCY
    )
    dispatch_scale_up_latency_us: float = spec(
        "fixed time of a dispatch over scale-up per layer and micro-batch (us)", **_LATENCY
    )
    combine_scale_up_latency_us: float = spec(
        "fixed time of a combine over scale-up per layer and micro-batch (us)", **_LATENCY
    )
    dispatch_scale_out_latency_us: float = spec(
        "fixed time of a dispatch over scale-out per layer and micro-batch (us)", **_LATENCY
    )
    combine_scale_out_latency_us: float = spec(
        "fixed time of a combine over scale-out per layer and micro-batch (us)", **_LATENCY
    )
    allreduce_scale_up_latency_us: float = spec(
        "fixed time of one small all-reduce over scale-up (tensor parallelism, us)", **_LATENCY
    )
    profile: str = spec(
        "which profile produced these values", default="sustained", choices=PROFILES
    )
    source: str | None = spec("where the facts come from", default=None, info=True)
    unverified: tuple[str, ...] = spec("facts not confirmed at the source", default=(), info=True)
    calibration: Calibration | None = spec(
        "the fit `afd-solver calibrate` wrote ([calibration] table)", default=None, info=True
    )


ROUTING_MODES = ("worst-case", "node-limited")
SHARED_PLACEMENTS = ("attention", "ffn")


@dataclass(frozen=True)
class Workload:
    """The decode workload and its latency target (docs/model.md §1.3, §2, §8)."""

    tpot_ms: float = spec("TPOT target, time per output token (ms)", gt=0.0, le=10_000.0)
    context_tokens: float = spec("mean KV length per sequence (tokens)", gt=0.0, le=100_000_000.0)
    mtp_acceptance: float = spec(
        "L_accept, mean tokens accepted per decode step", default=1.0, ge=1.0, le=64.0
    )
    tokens_per_step: float = spec(
        "q, tokens computed per sequence per step (1 + draft tokens)", default=1.0, ge=1.0, le=64.0
    )
    step_gap_ms: float = spec(
        "t_g, per-step time outside the overlapped pipeline (ms)", default=0.0, ge=0.0, le=10_000.0
    )
    dp_imbalance: float = spec(
        "sigma_DP in (0, 1]: share of attention capacity that carries tokens",
        default=1.0,
        gt=0.0,
        le=1.0,
    )
    expert_imbalance: float = spec(
        "max/mean load of the hottest expert rank (>= 1), when no expert_loads are given",
        default=1.0,
        ge=1.0,
        le=1000.0,
    )
    expert_loads: str | None = spec(
        "per-layer expert loads: a CSV (layer,expert,tokens; relative to the instance file) or "
        "a generator spec such as zipf:s=1.1,seed=7; the programs then take the imbalance the "
        "placement achieves for each rank count and replica budget",
        default=None,
    )
    routing: str = spec(
        "fan-out model: worst-case D = min(K, N_F), or node-limited by the model's groups",
        default="worst-case",
        choices=ROUTING_MODES,
    )
    shared_experts: str = spec(
        "where AFD computes the shared experts", default="attention", choices=SHARED_PLACEMENTS
    )
    demand_tokens_per_s: float | None = spec(
        "output tokens/s to serve (objective min_gpus)", default=None, gt=0.0, le=1e10
    )


ARCHITECTURES = archspec.NAMES
OBJECTIVES = ("tokens_per_gpu", "total_tokens", "min_gpus", "tokens_per_gpu_at_target")
"""All but the last count throughput at the deployment's own pace (docs/model.md §9);
`tokens_per_gpu_at_target` counts it at the TPOT target, the analysis' budget-filling form."""
PROGRAM_BACKENDS = ("highs", "cbc", "cpsat")
"""The solvers of the integer programs (solver.backends builds them by these names)."""
ORACLE_BACKEND = "enumerate"
"""Brute force over the whole grid (solver.enumerate): the oracle the programs are checked by."""
BACKENDS = (*PROGRAM_BACKENDS, ORACLE_BACKEND)
"""The one list of backend names: `search.backend`, every `--backend` choice."""


@dataclass(frozen=True)
class IntRange:
    """Inclusive integer range of one decision variable; lo == hi pins it."""

    lo: int
    hi: int

    @property
    def pinned(self) -> bool:
        return self.lo == self.hi

    def values(self) -> range:
        return range(self.lo, self.hi + 1)


@dataclass(frozen=True)
class Search:
    """What the integer programs may choose and how they are solved.

    Decision variables are given as inclusive ranges; a variable set to one
    value in the file (`attention_nodes = 4`) is pinned.
    """

    architectures: tuple[str, ...] = spec("architectures to compare", default=ARCHITECTURES)
    unit_gpus: int = spec(
        "g, GPUs per deployment unit ('node'); 1 = GPU-granular", default=8, ge=1, le=1024
    )
    objective: str = spec(
        "what to optimise: tokens/s per GPU, total tokens/s (needs max_gpus) or the fewest GPUs "
        "(needs a demand), all at the deployment's own pace; or tokens/s per GPU counted at the "
        "TPOT target (the analysis' form)",
        default="tokens_per_gpu",
        choices=OBJECTIVES,
    )
    backend: str = spec("solver backend", default="highs", choices=BACKENDS)
    time_limit_s: float = spec("time limit per solve (s)", default=60.0, gt=0.0, le=86_400.0)
    max_gpus: int | None = spec(
        "GPU cap (required by objective total_tokens)", default=None, ge=1, le=10_000_000
    )
    attention_nodes: IntRange = spec(
        "AFD attention units N_A", default=IntRange(1, 64), ge=1, le=100_000
    )
    ffn_nodes: IntRange = spec("AFD FFN units N_F", default=IntRange(1, 64), ge=1, le=100_000)
    nodes: IntRange = spec("EP units N", default=IntRange(1, 64), ge=1, le=100_000)
    sequences_per_gpu: IntRange = spec(
        "n, sequences in flight on one attention GPU (EP: one GPU), over all its micro-batches",
        default=IntRange(1, 16384),
        ge=1,
        le=1_048_576,
    )
    redundant_experts: IntRange = spec(
        "R, redundant expert replicas per layer", default=IntRange(0, 0), ge=0, le=65_536
    )
    experts_per_gpu: IntRange | None = spec(
        "G, expert slots per FFN GPU (pin to force)", default=None, ge=1, le=131_072
    )
    afd_micro_batches: IntRange = spec(
        "N_BO for AFD (>= 3, three-batch overlap)", default=IntRange(3, 3), le=64
    )
    ep_micro_batches: IntRange = spec(
        "N_BO for EP (two-batch overlap)", default=IntRange(2, 2), ge=1, le=64
    )
    tensor_parallel: IntRange = spec(
        "t, GPUs of one tensor-parallel group (TP; cut to the sizes the model and the "
        "scale-up domain allow, docs/model.md §20.1)",
        default=IntRange(1, 1024),
        ge=1,
        le=1024,
    )
    tp_groups: IntRange = spec(
        "r, independent tensor-parallel groups of a TP deployment", default=IntRange(1, 64),
        ge=1, le=100_000,
    )  # fmt: skip
    tp_micro_batches: IntRange = spec(
        "N_BO for TP (1: no overlap, as engines run TP decode)", default=IntRange(1, 1), ge=1,
        le=64,
    )  # fmt: skip


@dataclass(frozen=True)
class Link:
    """The `[link]` table of a scenario: the AFD link between the pools (docs/model.md §17)."""

    gbps: float = spec(
        "bandwidth per GPU between the AFD pools, one direction (GB/s); default the slower "
        "side's sustained scale-out",
        gt=0.0,
        le=100_000.0,
    )


@dataclass(frozen=True)
class Instance:
    """A complete problem: model, hardware, workload and search space."""

    name: str
    model: Model
    hardware: Hardware
    """The attention pool's hardware (AFD), every GPU's (EP)."""
    workload: Workload
    search: Search
    path: str | None = None
    ffn_hardware: Hardware | None = None
    """AFD's FFN pool hardware when it differs from `hardware` (docs/model.md §17)."""
    link_gbps: float | None = None
    """AFD: bandwidth per GPU between the pools, one direction (GB/s); default the slower
    side's sustained scale-out."""
    hardware_choices: tuple[tuple[Hardware, Hardware], ...] = ()
    """(attention, FFN) hardware pairings AFD chooses from (the scenario's [search] lists, every
    pair); EP chooses one hardware among them. Empty: the fixed pairing above
    (formulations.pairings)."""
    uncertainty: tuple[tuple[str, float, float], ...] = ()
    """(Hardware field, low, high) ranges that `solve --uncertainty` samples uniformly, for every
    hardware of the scenario (the `[uncertainty]` table, docs/model.md §19.4)."""

    @property
    def attention_hardware_name(self) -> str:
        return self.hardware.name

    @property
    def ffn_hardware_name(self) -> str:
        return (self.ffn_hardware or self.hardware).name

    def replace(self, **changes: Any) -> Instance:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Deployment:
    """One concrete deployment: what the programs choose and what `evaluate` takes.

    `nodes` holds the units of each of the architecture's pools, in its pool order; the first
    pool holds the sequences (AFD: ("attention", N_A), ("ffn", N_F); EP: ("ep", N)).
    `sequences_per_gpu` is every sequence in flight on one serving GPU, summed over the
    micro-batches (docs/model.md §2); the micro-batches differ by at most one sequence.
    `unit_gpus` is set only where the architecture sizes its unit itself (else the search's).
    """

    architecture: str
    sequences_per_gpu: int
    micro_batches: int
    redundant: int = 0
    nodes: tuple[tuple[str, int], ...] = ()
    unit_gpus: int | None = None

    @property
    def micro_batch_size(self) -> int:
        """b = ceil(n / N_BO): the largest micro-batch, which sets every stage time."""
        return -(-self.sequences_per_gpu // self.micro_batches)

    def pool(self, name: str) -> int:
        """Units of pool `name` (0 when the architecture has no such pool)."""
        return next((int(u) for p, u in self.nodes if p == name), 0)

    def with_pool(self, name: str, units: int) -> Deployment:
        """The same deployment with `units` units in pool `name`."""
        nodes = tuple((p, int(units) if p == name else u) for p, u in self.nodes)
        return dataclasses.replace(self, nodes=nodes)

    @property
    def total_units(self) -> int:
        """Deployment units of every pool: N_A + N_F (AFD) or N (EP)."""
        return sum(u for _, u in self.nodes)

    @property
    def serving_units(self) -> int:
        """Units whose GPUs hold sequences: the first pool's."""
        return int(self.nodes[0][1]) if self.nodes else 0

    def gpus(self, unit_gpus: int) -> int:
        """GPUs of every pool (`unit_gpus`: the search's, unless the deployment sets its own)."""
        return self.total_units * (self.unit_gpus or unit_gpus)
