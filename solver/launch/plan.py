"""What every engine's launch configuration takes from one deployment, engine-neutral.

A `LaunchPlan` holds the deployment (docs/model.md §2: `n` sequences per serving GPU over
`N_BO` micro-batches of at most `b`), its own-pace metrics (§9) and memory (§7) from
`formulations.breakdown`, and the quantities the engines' flags are set from:

- expert ranks `P` (AFD: the FFN pool's GPUs, EP: every GPU) and slots per rank
  `G = ceil((E + R) / P)` (§5.1, §11.1). Engines want every rank to hold the same number of
  physical experts, so the engines' redundant experts are `G P - E`: the slots the solver
  already charged memory for (§7), filled;
- the running-request cap: `n` per attention data-parallel rank;
- the CUDA-graph batch: `N_BO` micro-batches of `b`, the padded whole step's batch (the
  engines capture one graph for the step and split it into micro-batches inside);
- draft tokens per step `d`: enough for `L_accept` accepted tokens and for `q` computed ones
  (§1.3), `d = max(q - 1, ceil(L_accept) - 1)`;
- the memory fractions: the share of HBM (the datasheet capacity, not the usable share) that
  weights and KV cache take (§7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from formulations import archspec
from formulations.breakdown import breakdown
from formulations.types import Deployment, Instance

KV_DTYPES = {1.0: "fp8", 2.0: "bf16"}
"""Bytes per cached KV element (model.kv_cache_bytes) -> the dtype engines name."""


@dataclass(frozen=True)
class Pool:
    """One pool of whole nodes: its GPUs and what each holds."""

    name: str
    hardware: str
    units: int
    gpus: int
    gpus_per_node: int
    hbm_bytes: float

    @property
    def nodes(self) -> int:
        """Physical nodes (a deployment unit may span several, e.g. a rack)."""
        return math.ceil(self.gpus / self.gpus_per_node)


@dataclass(frozen=True)
class LaunchPlan:
    """One deployment and everything its launch configurations are set from."""

    inst: Instance
    deployment: Deployment
    eps: float
    metrics: dict[str, float]
    pools: tuple[Pool, ...]
    notes: list[str] = field(default_factory=list)

    @property
    def arch(self) -> str:
        return self.deployment.architecture

    @property
    def serving(self) -> Pool:
        """The pool whose GPUs hold sequences (AFD attention, EP all)."""
        return self.pools[0]

    @property
    def experts(self) -> Pool:
        """The pool whose GPUs hold the routed experts (AFD FFN, EP all)."""
        return self.pools[-1]

    @property
    def sliced(self) -> bool:
        """Every GPU holds a slice of every expert (TP, docs/model.md §20.3): no expert ranks,
        no map to place, no redundant experts."""
        return not archspec.get(self.arch).expert_ranks

    @property
    def group_gpus(self) -> int:
        """GPUs of one serving unit (TP: the group size t; else the node's unit_gpus)."""
        return self.serving.gpus // self.serving.units

    @property
    def groups(self) -> int:
        """Serving units (TP: its independent groups r)."""
        return self.serving.units

    @property
    def expert_ranks(self) -> int:
        return self.experts.gpus

    @property
    def slots_per_rank(self) -> int:
        """G = ceil((E + R) / P) (docs/model.md §5.1); sliced: every expert, E."""
        experts = self.inst.model.num_routed_experts
        if self.sliced:
            return experts
        return -(-(experts + self.deployment.redundant) // self.expert_ranks)

    @property
    def physical_experts(self) -> int:
        """Every slot filled: G P (sliced: E, each split over the group)."""
        if self.sliced:
            return self.inst.model.num_routed_experts
        return self.slots_per_rank * self.expert_ranks

    @property
    def engine_redundant(self) -> int:
        """Redundant experts an engine runs: G P - E (>= R)."""
        return self.physical_experts - self.inst.model.num_routed_experts

    @property
    def sequences_per_gpu(self) -> int:
        return self.deployment.sequences_per_gpu

    @property
    def micro_batches(self) -> int:
        return self.deployment.micro_batches

    @property
    def micro_batch_size(self) -> int:
        return self.deployment.micro_batch_size

    @property
    def graph_batch(self) -> int:
        """Requests in one step's CUDA graph: N_BO micro-batches of b (>= n)."""
        return self.micro_batches * self.micro_batch_size

    @property
    def draft_tokens(self) -> int:
        """d = max(q - 1, ceil(L_accept) - 1): draft tokens verified per sequence and step."""
        w = self.inst.workload
        return max(round(w.tokens_per_step) - 1, math.ceil(w.mtp_acceptance - 1e-9) - 1, 0)

    @property
    def kv_dtype(self) -> str | None:
        """fp8 or bf16, or None when no engine stores the model's KV element size."""
        return KV_DTYPES.get(float(self.inst.model.kv_cache_bytes))

    def static_fraction(self) -> float:
        """Weights and KV cache over HBM on a serving GPU (rounded up to 0.001)."""
        m = self.metrics
        used = m["attention_weight_bytes"] + m.get("expert_weight_bytes", 0.0)
        used += m.get("kv_bytes", m.get("attention_kv_bytes", 0.0))
        return _ceil3(used / self.serving.hbm_bytes)

    def total_fraction(self) -> float:
        """Everything the model keeps on a serving GPU over HBM (rounded up to 0.001)."""
        m = self.metrics
        return _ceil3(m.get("gpu_bytes", m.get("attention_bytes", 0.0)) / self.serving.hbm_bytes)

    def kv_share_of_free(self) -> float:
        """KV cache over the HBM left after weights and buffers (TensorRT-LLM's fraction)."""
        m = self.metrics
        kv = m.get("kv_bytes", m.get("attention_kv_bytes", 0.0))
        rest = m.get("gpu_bytes", m.get("attention_bytes", 0.0)) - kv
        return min(1.0, _ceil3(kv / (self.serving.hbm_bytes - rest)))

    def expected(self) -> dict[str, Any]:
        """Own-pace figures the deployment should reach (docs/model.md §9.1)."""
        m = self.metrics
        return {
            "tpot_ms": m["tpot_ms"],
            "tokens_per_s": m["tokens_per_s"],
            "tokens_per_s_per_gpu": m["tokens_per_s_per_gpu"],
            "step_ms": m["step_s"] * 1e3,
            "stage_us": m["stage_s"] * 1e6,
        }


def _ceil3(x: float) -> float:
    return math.ceil(x * 1000 - 1e-9) / 1000


def make_plan(inst: Instance, d: Deployment, eps: float) -> LaunchPlan:
    """The launch plan of deployment `d` on the single-pairing instance `inst`."""
    g = d.unit_gpus or inst.search.unit_gpus  # TP sizes its own unit (the group)
    metrics = breakdown(inst, d, eps)
    attention_hw = inst.hardware
    ffn_hw = inst.ffn_hardware or inst.hardware
    # The serving pool runs on the instance's hardware, an expert-only pool on the FFN side's.
    pools = tuple(
        Pool(p.name, hw.name, d.pool(p.name), d.pool(p.name) * g, hw.gpus_per_node,
             hw.hbm_gb * 1e9)
        for p in archspec.get(d.architecture).pools
        for hw in [attention_hw if p.serves else ffn_hw]
    )  # fmt: skip
    plan = LaunchPlan(inst, d, eps, metrics, pools)
    if plan.engine_redundant != d.redundant:
        plan.notes.append(
            f"redundant experts: the deployment has R = {d.redundant}; its {plan.expert_ranks} "
            f"expert ranks hold {plan.slots_per_rank} slots each (memory is charged for them), "
            f"so the engines run {plan.engine_redundant} to fill every slot"
        )
    return plan
