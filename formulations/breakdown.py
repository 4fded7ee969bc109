"""The breakdown of one deployment: every stage time, memory figure and metric by name.

`evaluate --breakdown` and `solve --breakdown` print it; the reference evaluator in tests/ checks
it key by key (docs/model.md §9).
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from formulations import architectures, archspec
from formulations.costs import CostModel
from formulations.metrics import metrics
from formulations.types import Deployment, Instance

SKIPPED = ("in_domain", "compute_s")
"""Stage fields that are not breakdown keys (a flag, and EP's attention + GEMM sum)."""


def breakdown(inst: Instance, d: Deployment, eps: float = 1.0) -> dict[str, float]:
    """The breakdown of deployment `d` of `inst` with expert imbalance `eps`."""
    return breakdown_of(CostModel.for_deployment(inst, d), d, eps)


def breakdown_of(cm: CostModel, d: Deployment, eps: float = 1.0) -> dict[str, float]:
    """Every stage time, memory figure and metric of one deployment, by name (docs/model.md §9).

    Link times are split into dispatch (H * dispatch_bytes per token copy and its fixed time) and
    combine (H * combine_bytes). Keys are the contract the reference evaluator in tests/ checks.
    """
    arch = architectures.get(d.architecture)
    s = arch.deployment_stages(cm, d, eps)
    m = metrics(cm, d, eps)
    out: dict[str, float] = {}
    for f in fields(s):
        if f.name not in SKIPPED:
            out[f.name] = float(np.asarray(getattr(s, f.name)).reshape(-1)[0])
    out.update(
        stage_s=m.stage_s,
        step_gap_s=cm.workload.step_gap_ms * 1e-3,
        step_s=m.step_s,
        tpot_ms=m.tpot_ms,
        tokens_per_s=m.tokens_per_s,
        tokens_per_s_per_gpu=m.tokens_per_s_per_gpu,
        gpus=float(m.gpus),
        ffn_hfu=m.ffn_hfu,
        ffn_ofu=m.ffn_ofu,
        temporal_sparsity=m.temporal_sparsity,
        usable_bytes=cm.usable_bytes("attention"),
    )
    if archspec.get(d.architecture).own_ffn_hardware:
        out["ffn_usable_bytes"] = cm.usable_bytes("ffn")
    return out
