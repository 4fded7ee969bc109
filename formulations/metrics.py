"""Metrics of a deployment at its own pace (docs/model.md §9).

- throughput: sequences in flight over TPOT (Little's law): tokens/s = serving GPUs *
  sigma_DP * n / TPOT, TPOT = (t_g + N_layers * N_BO * stage) / L_accept;
- at the target (the analysis' form, objective tokens_per_gpu_at_target): the same sequences
  over the TPOT target, as if the stage filled the budget;
- utilisation of the FFN GPUs against the deployment's own stage: S_t = t_G / stage,
  OFU = FLOPs / (t_G * peak), HFU = FLOPs / (stage * peak), with the mean FFN GPU's useful
  expert FLOPs and the peak FP8 rate (the budget forms stay in `closed_forms`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from formulations import architectures, families
from formulations.costs import CostModel
from formulations.types import Deployment


@dataclass(frozen=True)
class Metrics:
    """Everything a result row reports about one deployment."""

    gpus: int
    serving_gpus: int
    """Serving ranks: GPUs holding their own sequences (TP: groups, §20.1)."""
    sequences_per_gpu: int
    micro_batch_size: int
    tokens_per_s: float
    tokens_per_s_per_gpu: float
    at_target_tokens_per_s_per_gpu: float
    """Throughput per GPU counted at the TPOT target (the analysis' form)."""
    tpot_ms: float
    step_s: float
    stage_s: float
    budget_s: float
    ffn_hfu: float
    ffn_ofu: float
    temporal_sparsity: float
    experts_per_gpu: int
    violated: tuple[str, ...]
    """Constraint families the deployment breaks (empty when feasible)."""


def _scalar(x: object) -> float:
    return float(np.asarray(x).reshape(-1)[0])


def stages_of(cm: CostModel, d: Deployment, eps: float = 1.0) -> Any:
    """The architecture's forward evaluation of one deployment."""
    return architectures.get(d.architecture).deployment_stages(cm, d, eps)


def metrics(cm: CostModel, d: Deployment, eps: float = 1.0) -> Metrics:
    """Metrics of one deployment at its own pace (docs/model.md §9)."""
    arch = architectures.get(d.architecture)
    s = arch.deployment_stages(cm, d, eps)
    checks = arch.checks(cm, s)
    w, g = cm.workload, cm.unit_gpus
    stage_s = _scalar(s.stage_s)
    step_s = _scalar(cm.step_s(stage_s, d.micro_batches))
    tpot_s = step_s / w.mtp_acceptance
    serving = d.serving_units * cm.unit_ranks  # serving ranks, each with its own n (§20.1)
    in_flight = w.dp_imbalance * serving * d.sequences_per_gpu
    gpus = d.gpus(g)
    gemm_s = _scalar(s.gemm_s)
    flops = _scalar(cm.expert_flops(_scalar(s.pairs_mean)))
    peak = cm.ffn_rates.peak_fp8_flops
    return Metrics(
        gpus=gpus,
        serving_gpus=serving,
        sequences_per_gpu=d.sequences_per_gpu,
        micro_batch_size=d.micro_batch_size,
        tokens_per_s=in_flight / tpot_s,
        tokens_per_s_per_gpu=in_flight / tpot_s / gpus,
        at_target_tokens_per_s_per_gpu=in_flight / (w.tpot_ms * 1e-3) / gpus,
        tpot_ms=tpot_s * 1e3,
        step_s=step_s,
        stage_s=stage_s,
        budget_s=_scalar(s.budget_s),
        ffn_hfu=flops / (stage_s * peak) if stage_s > 0 else 0.0,
        ffn_ofu=flops / (gemm_s * peak) if gemm_s > 0 else 0.0,
        temporal_sparsity=gemm_s / stage_s if stage_s > 0 else 0.0,
        experts_per_gpu=int(_scalar(s.experts_per_gpu)),
        violated=tuple(k for k, ok in checks.items() if not bool(np.all(ok))),
    )


def resource(cm: CostModel, d: Deployment, family: str, eps: float = 1.0) -> str:
    """The physical resource behind a family at deployment d (docs/model.md §9, §10).

    Roofline families split into compute versus HBM bandwidth by which side dominates; the
    attention link is scale-up inside a superpod domain, else scale-out.
    """
    fam = families.get(family)
    if fam.resource == "link":
        s = stages_of(cm, d, eps)
        inside = bool(np.all(s.in_domain))
        return f"{fam.side}:scale_up" if inside else f"{fam.side}:scale_out"
    if fam.resource == "roofline":
        s = stages_of(cm, d, eps)
        if fam.field == "gemm_s":
            flop, byte = _scalar(s.gemm_compute_s), _scalar(s.gemm_weight_s)
        elif fam.field == "attention_s":
            flop, byte = _scalar(s.attention_flop_s), _scalar(s.attention_byte_s)
        else:  # attention + grouped GEMM in one stage (EP)
            flop = _scalar(s.attention_flop_s) + _scalar(s.gemm_compute_s)
            byte = _scalar(s.attention_byte_s) + _scalar(s.gemm_weight_s)
        return f"{fam.side}:compute" if flop >= byte else f"{fam.side}:hbm_bandwidth"
    return f"{fam.side}:{fam.resource}"
