"""Metrics of a deployment and the constraint that binds it (MODEL.md section 5).

- throughput: sequences in flight times L_accept over the step time. With the
  SLO enforced (solve) the step is paced at T = SLO * L_accept, as in MODEL.md
  section 5; without it (evaluate) the step runs at the deployment's own pace
  t_g + N_layers * N_BO * (slowest stage).
- budget-based utilisation of the FFN GPUs: temporal sparsity S_t = t_G / t_B,
  OFU = FLOPs / (t_G * peak), HFU = FLOPs / (t_B * peak) = OFU * S_t, with the
  useful (mean-rank) expert FLOPs and the peak FP8 rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from formulations import deployment as dep
from formulations.costs import CostModel
from formulations.types import Deployment


@dataclass(frozen=True)
class Metrics:
    """Everything a result row reports about one deployment."""

    gpus: int
    tokens_per_s: float
    tokens_per_s_per_gpu: float
    tpot_ms: float
    ffn_hfu: float
    ffn_ofu: float
    temporal_sparsity: float
    experts_per_gpu: int
    stage_s: float
    budget_s: float
    violated: tuple[str, ...]
    """Constraint families the deployment breaks (empty when feasible)."""


def _scalar(x: np.ndarray) -> float:
    return float(np.asarray(x).reshape(-1)[0])


def _pace(
    cm: CostModel, stage_s: float, micro_batches: int, enforce_slo: bool
) -> tuple[float, float]:
    """(step time, TPOT) in seconds for the slowest stage `stage_s`."""
    step_s = cm.workload.step_gap_ms * 1e-3 + cm.model.num_layers * micro_batches * stage_s
    tpot_s = step_s / cm.workload.mtp_acceptance
    if enforce_slo:
        step_s = max(step_s, cm.step_time_s())
    return step_s, tpot_s


def _utilisation(
    cm: CostModel, pairs_mean: float, gemm_s: float, budget_s: float
) -> tuple[float, float, float]:
    flops = _scalar(cm.expert_flops(pairs_mean))
    peak = cm.rates.peak_fp8_flops
    hfu = flops / (budget_s * peak) if budget_s > 0 else float("nan")
    ofu = flops / (gemm_s * peak) if gemm_s > 0 else 0.0
    sparsity = gemm_s / budget_s if budget_s > 0 else float("nan")
    return hfu, ofu, sparsity


def metrics(cm: CostModel, d: Deployment, eps: float = 1.0, enforce_slo: bool = True) -> Metrics:
    """Metrics of one AFD or EP deployment (MODEL.md section 5)."""
    s: dep.AfdStages | dep.EpStages
    if d.architecture == "afd":
        s = dep.afd_stages(
            cm, d.n_attention, d.n_ffn, d.seqs_per_gpu, d.redundant, d.micro_batches, eps
        )
        checks = dep.afd_checks(cm, s)
        serving_gpus = d.n_attention * cm.unit_gpus  # only attention GPUs hold sequences
    else:
        s = dep.ep_stages(cm, d.n_units, d.seqs_per_gpu, d.redundant, d.micro_batches, eps)
        checks = dep.ep_checks(cm, s)
        serving_gpus = d.n_units * cm.unit_gpus
    w = cm.workload
    stage_s = _scalar(s.stage_s)
    step_s, tpot_s = _pace(cm, stage_s, d.micro_batches, enforce_slo)
    sequences = w.dp_imbalance * d.micro_batches * serving_gpus * d.seqs_per_gpu
    tokens_per_s = sequences * w.mtp_acceptance / step_s
    gpus = d.gpus(cm.unit_gpus)
    budget_s = _scalar(s.budget_s)
    hfu, ofu, sparsity = _utilisation(cm, _scalar(s.pairs_mean), _scalar(s.gemm_s), budget_s)
    return Metrics(
        gpus=gpus,
        tokens_per_s=tokens_per_s,
        tokens_per_s_per_gpu=tokens_per_s / gpus,
        tpot_ms=tpot_s * 1e3,
        ffn_hfu=hfu,
        ffn_ofu=ofu,
        temporal_sparsity=sparsity,
        experts_per_gpu=int(_scalar(s.experts_per_gpu)),
        stage_s=stage_s,
        budget_s=budget_s,
        violated=tuple(k for k, ok in checks.items() if not bool(np.all(ok))),
    )


def resource(cm: CostModel, d: Deployment, family: str, eps: float = 1.0) -> str:
    """Name the physical resource behind a violated family (MODEL.md section 5 regimes).

    Time families split into compute versus HBM bandwidth by which side of the
    roofline dominates; wire families keep their link name.
    """
    side, kind = family.split(":")
    if kind == "wire":
        inside = bool(np.all(dep.afd_in_domain(cm, d.n_attention, d.n_ffn)))
        return f"{side}:scale_up" if inside else f"{side}:scale_out"
    if family == "attention:latency":
        s = dep.afd_stages(
            cm, d.n_attention, d.n_ffn, d.seqs_per_gpu, d.redundant, d.micro_batches, eps
        )
        flop, byte = _scalar(s.attention_flop_s), _scalar(s.attention_byte_s)
        return "attention:compute" if flop >= byte else "attention:hbm_bandwidth"
    if family == "ffn:gemm":
        s = dep.afd_stages(
            cm, d.n_attention, d.n_ffn, d.seqs_per_gpu, d.redundant, d.micro_batches, eps
        )
        flop, byte = _scalar(s.gemm_compute_s), _scalar(s.gemm_weight_s)
        return "ffn:compute" if flop >= byte else "ffn:hbm_bandwidth"
    if family == "ep:latency":
        e = dep.ep_stages(cm, d.n_units, d.seqs_per_gpu, d.redundant, d.micro_batches, eps)
        flop = _scalar(e.attention_flop_s) + _scalar(e.gemm_compute_s)
        byte = _scalar(e.attention_byte_s) + _scalar(e.gemm_weight_s)
        return "ep:compute" if flop >= byte else "ep:hbm_bandwidth"
    return family
