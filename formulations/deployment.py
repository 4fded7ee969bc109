"""Forward evaluation of AFD and EP deployments (MODEL.md sections 3 to 5).

`afd_stages` and `ep_stages` compute every stage time and memory figure of a
deployment; `checks` turns them into one boolean per constraint family. They
are vectorised, so the enumeration backend evaluates whole grids with them,
and the integer programs derive their integer caps from the very same
functions (see `formulations.layouts`).

Constraint families (names shared by programs, reports and diagnostics):
    attention:latency       t_a <= t_B
    attention:hbm_capacity  attention-GPU memory <= usable HBM
    attention:wire          attention-GPU token copies on its link <= t_B
    ffn:gemm                t_G <= t_B (grouped GEMM, compute or weight streaming)
    ffn:scale_out           scale-out ingress of the hottest FFN GPU <= t_B
    ffn:scale_up            scale-up fan-out into the hottest FFN GPU <= t_B
    ffn:hbm_capacity        expert weights + buffers <= usable HBM
    ep:latency              t_a + t_G <= t_B (two-batch overlap)
    ep:scale_out, ep:scale_up   exposed all-to-all: t_c <= t_B
    ep:hbm_capacity         attention + experts + KV + buffers <= usable HBM
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from formulations.costs import CostModel, Num, experts_per_gpu

# Relative slack for "time <= budget" and "bytes <= capacity": one rounding error of
# float64 must not flip a boundary deployment between backends.
REL_TOL = 1e-9

AFD_FAMILIES = (
    "attention:latency",
    "attention:hbm_capacity",
    "attention:wire",
    "ffn:gemm",
    "ffn:scale_out",
    "ffn:scale_up",
    "ffn:hbm_capacity",
)
EP_FAMILIES = ("ep:latency", "ep:scale_out", "ep:scale_up", "ep:hbm_capacity")


def _broadcast(**fields: Num) -> dict[str, np.ndarray]:
    """All fields broadcast to one common shape (deployments evaluated side by side)."""
    arrays = np.broadcast_arrays(*(np.asarray(v) for v in fields.values()))
    return dict(zip(fields, arrays, strict=True))


def fits(value: Num, limit: Num) -> np.ndarray:
    """value <= limit up to float rounding."""
    return np.asarray(value) <= np.asarray(limit) * (1.0 + REL_TOL)


@dataclass(frozen=True)
class AfdStages:
    """Stage times (s), memory (bytes) and loads of AFD deployments (arrays broadcast together)."""

    budget_s: np.ndarray
    attention_s: np.ndarray
    attention_flop_s: np.ndarray
    attention_byte_s: np.ndarray
    attention_wire_s: np.ndarray
    gemm_s: np.ndarray
    gemm_compute_s: np.ndarray
    gemm_weight_s: np.ndarray
    ffn_scaleout_s: np.ndarray
    ffn_scaleup_s: np.ndarray
    attention_bytes: np.ndarray
    ffn_bytes: np.ndarray
    experts_per_gpu: np.ndarray
    pairs_hot: np.ndarray
    pairs_mean: np.ndarray
    in_domain: np.ndarray

    @property
    def stage_s(self) -> np.ndarray:
        """The slowest pipeline stage: it paces every micro-batch of every layer."""
        return np.maximum.reduce(
            [
                self.attention_s,
                self.gemm_s,
                self.attention_wire_s,
                self.ffn_scaleout_s,
                self.ffn_scaleup_s,
            ]
        )


def afd_ffn_side(
    cm: CostModel,
    ffn_units: Num,
    redundant: Num,
    micro_batches: Num,
    tokens: Num,
    in_domain: Num,
    eps: Num = 1.0,
) -> dict[str, np.ndarray]:
    """FFN pool of an AFD deployment receiving `tokens` per micro-batch (MODEL.md section 3)."""
    m, r, w = cm.model, cm.rates, cm.workload
    ffn_gpus = np.asarray(ffn_units, dtype=np.int64) * cm.unit_gpus
    experts = experts_per_gpu(m, redundant, ffn_gpus)
    fanout = cm.fanout_units(ffn_units)
    tokens = np.asarray(tokens, dtype=float)
    pairs_mean = tokens * m.experts_per_token / ffn_gpus
    pairs_hot = pairs_mean * eps
    # Two-stage path: one scale-out copy per destination unit, then scale-up fan-out;
    # inside a superpod's domain the scale-up fabric carries everything.
    copies_out_hot = tokens * fanout / ffn_gpus * cm.node_eps(eps)
    scaleout_s = np.where(in_domain, 0.0, cm.wire_time_s(copies_out_hot, r.scaleout_bytes_per_s))
    shared_on_ffn = w.shared_experts == "ffn"
    shared_tokens = tokens / ffn_gpus * eps if shared_on_ffn else 0.0
    gemm_compute, gemm_weight = cm.gemm_times_s(pairs_hot, experts, shared_tokens)
    return {
        "gemm_s": np.maximum(gemm_compute, gemm_weight),
        "gemm_compute_s": gemm_compute,
        "gemm_weight_s": gemm_weight,
        "ffn_scaleout_s": scaleout_s,
        "ffn_scaleup_s": cm.wire_time_s(pairs_hot, r.scaleup_bytes_per_s),
        "ffn_bytes": cm.expert_memory_bytes(experts, shared_on_ffn)
        + cm.buffer_bytes(pairs_hot, micro_batches),
        "experts_per_gpu": experts,
        "pairs_hot": pairs_hot,
        "pairs_mean": pairs_mean,
    }


def afd_attention_side(
    cm: CostModel,
    ffn_units: Num,
    seqs: Num,
    micro_batches: Num,
    in_domain: Num,
) -> dict[str, np.ndarray]:
    """One attention GPU of an AFD deployment holding `seqs` sequences per micro-batch."""
    m, r, w = cm.model, cm.rates, cm.workload
    seqs = np.asarray(seqs, dtype=np.int64)
    # One copy per destination unit on the NIC, or one per expert GPU on scale-up.
    direct = np.minimum(m.experts_per_token, np.asarray(ffn_units, dtype=np.int64) * cm.unit_gpus)
    copies_per_token = np.where(in_domain, direct, cm.fanout_units(ffn_units))
    link = np.where(in_domain, r.scaleup_bytes_per_s, r.scaleout_bytes_per_s)
    flop_s, byte_s = cm.attention_time_parts_s(seqs)
    return {
        "attention_s": np.maximum(flop_s, byte_s),
        "attention_flop_s": flop_s,
        "attention_byte_s": byte_s,
        "attention_wire_s": cm.wire_time_s(seqs * w.tokens_per_step * copies_per_token, 1.0) / link,
        "attention_bytes": cm.attention_memory_bytes(seqs, micro_batches, copies_per_token),
    }


def afd_in_domain(cm: CostModel, attention_units: Num, ffn_units: Num) -> np.ndarray:
    """True where the whole AFD deployment sits inside one superpod scale-up domain."""
    total = np.asarray(attention_units) + np.asarray(ffn_units)
    if not cm.superpod:
        return np.zeros(np.shape(total), dtype=bool)
    return total <= cm.domain_units


def afd_tokens(cm: CostModel, slots: Num) -> np.ndarray:
    """X = sigma_DP * g * q * S tokens per micro-batch, with S = N_A * b sequence slots."""
    w = cm.workload
    return w.dp_imbalance * cm.unit_gpus * w.tokens_per_step * np.asarray(slots, dtype=float)


def afd_stages(
    cm: CostModel,
    attention_units: Num,
    ffn_units: Num,
    seqs: Num,
    redundant: Num,
    micro_batches: Num,
    eps: Num = 1.0,
) -> AfdStages:
    """Evaluate AFD deployments (MODEL.md section 3).

    Args:
        attention_units: N_A; ffn_units: N_F (units of g GPUs).
        seqs: b, sequences per attention GPU per micro-batch.
        redundant: R, redundant expert replicas.
        micro_batches: N_BO.
        eps: max/mean expert load of the hottest FFN GPU.
    """
    n_a = np.asarray(attention_units, dtype=np.int64)
    in_domain = afd_in_domain(cm, n_a, ffn_units)
    tokens = afd_tokens(cm, n_a * np.asarray(seqs, dtype=np.int64))
    ffn = afd_ffn_side(cm, ffn_units, redundant, micro_batches, tokens, in_domain, eps)
    attention = afd_attention_side(cm, ffn_units, seqs, micro_batches, in_domain)
    budget = cm.stage_budget_s(np.asarray(micro_batches))
    return AfdStages(**_broadcast(budget_s=budget, in_domain=in_domain, **ffn, **attention))


def afd_checks(cm: CostModel, s: AfdStages) -> dict[str, np.ndarray]:
    """One boolean array per AFD constraint family (True = holds)."""
    cap = cm.rates.hbm_usable_bytes
    positive = s.budget_s > 0
    return {
        "attention:latency": positive & fits(s.attention_s, s.budget_s),
        "attention:hbm_capacity": fits(s.attention_bytes, cap),
        "attention:wire": positive & fits(s.attention_wire_s, s.budget_s),
        "ffn:gemm": positive & fits(s.gemm_s, s.budget_s),
        "ffn:scale_out": positive & fits(s.ffn_scaleout_s, s.budget_s),
        "ffn:scale_up": positive & fits(s.ffn_scaleup_s, s.budget_s),
        "ffn:hbm_capacity": fits(s.ffn_bytes, cap),
    }


@dataclass(frozen=True)
class EpStages:
    """Stage times (s), memory (bytes) and loads of EP deployments."""

    budget_s: np.ndarray
    attention_s: np.ndarray
    attention_flop_s: np.ndarray
    attention_byte_s: np.ndarray
    gemm_s: np.ndarray
    gemm_compute_s: np.ndarray
    gemm_weight_s: np.ndarray
    scaleout_s: np.ndarray
    scaleup_s: np.ndarray
    gpu_bytes: np.ndarray
    experts_per_gpu: np.ndarray
    pairs_hot: np.ndarray
    pairs_mean: np.ndarray

    @property
    def stage_s(self) -> np.ndarray:
        """Compute of one micro-batch, or the all-to-all when it is not hidden behind it."""
        return np.maximum.reduce([self.attention_s + self.gemm_s, self.scaleout_s, self.scaleup_s])


def ep_stages(
    cm: CostModel,
    units: Num,
    seqs: Num,
    redundant: Num,
    micro_batches: Num,
    eps: Num = 1.0,
) -> EpStages:
    """Evaluate EP deployments (MODEL.md section 4).

    Every GPU runs attention for `seqs` sequences and holds G experts. The
    all-to-all sends each token once per remote unit it reaches (worst case
    min(D, N - 1)), then fans out over scale-up; inside a superpod's domain
    tokens go straight to each expert GPU over scale-up.
    """
    m, w, r, g = cm.model, cm.workload, cm.rates, cm.unit_gpus
    n = np.asarray(units, dtype=np.int64)
    seqs = np.asarray(seqs, dtype=np.int64)
    budget = np.asarray(cm.stage_budget_s(np.asarray(micro_batches)), dtype=float)
    experts = experts_per_gpu(m, redundant, n * g)
    in_domain = n <= cm.domain_units if cm.superpod else np.zeros_like(n, dtype=bool)
    tokens = w.dp_imbalance * seqs * w.tokens_per_step
    pairs_mean = tokens * m.experts_per_token
    pairs_hot = pairs_mean * eps
    remote_units = np.minimum(cm.fanout_units(n), cm.domains(n) - 1)
    scaleout_s = np.where(
        in_domain,
        0.0,
        cm.wire_time_s(tokens * remote_units * cm.node_eps(eps), r.scaleout_bytes_per_s),
    )
    scaleup_s = cm.wire_time_s(pairs_hot, r.scaleup_bytes_per_s)
    flop_s, byte_s = cm.attention_time_parts_s(seqs)
    gemm_compute, gemm_weight = cm.gemm_times_s(pairs_hot, experts)
    gpu_bytes = (
        cm.attention_memory_bytes(seqs, micro_batches, 0.0)
        + cm.expert_memory_bytes(experts, False)
        + cm.buffer_bytes(pairs_hot, micro_batches)
    )
    return EpStages(
        **_broadcast(
            budget_s=budget,
            attention_s=np.maximum(flop_s, byte_s),
            attention_flop_s=flop_s,
            attention_byte_s=byte_s,
            gemm_s=np.maximum(gemm_compute, gemm_weight),
            gemm_compute_s=gemm_compute,
            gemm_weight_s=gemm_weight,
            scaleout_s=scaleout_s,
            scaleup_s=scaleup_s,
            gpu_bytes=gpu_bytes,
            experts_per_gpu=experts,
            pairs_hot=pairs_hot,
            pairs_mean=pairs_mean,
        )
    )


def ep_checks(cm: CostModel, s: EpStages) -> dict[str, np.ndarray]:
    """One boolean array per EP constraint family (True = holds)."""
    positive = s.budget_s > 0
    return {
        "ep:latency": positive & fits(s.attention_s + s.gemm_s, s.budget_s),
        "ep:scale_out": positive & fits(s.scaleout_s, s.budget_s),
        "ep:scale_up": positive & fits(s.scaleup_s, s.budget_s),
        "ep:hbm_capacity": fits(s.gpu_bytes, cm.rates.hbm_usable_bytes),
    }
