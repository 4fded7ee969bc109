"""Shared fixtures: small hand-built models, hardware and instances (no files needed)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from formulations.types import Hardware, Instance, IntRange, Model, Search, Workload

ROOT = Path(__file__).resolve().parents[1]
INSTANCES = ROOT / "instances"
SCENARIOS = sorted(INSTANCES.glob("*.toml"))

SHIPPED_INFEASIBLE = {
    ("deepseek-v3-h800", "tp"),  # 671 GB of FP8 weights: 85 GB per H800 at TP8 (72 usable)
    ("kimi-k2-h20", "tp"),  # a trillion parameters on one 8-GPU domain
    ("qwen3-235b-a22b-h200-one-node", "afd"),  # max_gpus = 8: AFD needs a node per pool
}
"""Shipped (scenario, architecture) pairs without a deployment, and why."""


def feasible_scenarios(arch: str) -> list[Path]:
    """The shipped scenarios where `arch` has a deployment (see SHIPPED_INFEASIBLE)."""
    return [p for p in SCENARIOS if (p.stem, arch) not in SHIPPED_INFEASIBLE]


def feasible_pairs(archs: tuple[str, ...] = ("afd", "ep")) -> list:
    """pytest params (path, arch) for every feasible shipped pair, with readable ids."""
    return [pytest.param(p, a, id=f"{a}-{p.stem}") for a in archs for p in feasible_scenarios(a)]


def deepseek_v3() -> Model:
    return Model(
        name="deepseek-v3",
        num_layers=61,
        num_dense_layers=3,
        hidden_size=7168,
        num_routed_experts=256,
        experts_per_token=8,
        num_shared_experts=1,
        moe_intermediate_size=2048,
        vocab_size=129280,
        attention="mla",
        num_attention_heads=128,
        dense_intermediate_size=18432,
        q_lora_rank=1536,
        kv_lora_rank=512,
        qk_rope_head_dim=64,
        qk_nope_head_dim=128,
        v_head_dim=128,
        n_group=8,
        topk_group=4,
    )


def h800_paper() -> Hardware:
    return Hardware(
        name="h800",
        fp8_tflops=1979,
        bf16_tflops=989,
        hbm_gb=80,
        hbm_tbps=3.35,
        scaleup_gbps=160,
        scaleout_gbps=50,
        gpus_per_node=8,
        scaleup_domain_gpus=8,
        profile="paper",
    )


def superpod_paper() -> Hardware:
    return Hardware(
        name="superpod",
        fp8_tflops=4500,
        bf16_tflops=2250,
        hbm_gb=180,
        hbm_tbps=7.7,
        scaleup_gbps=720,
        scaleout_gbps=50,
        gpus_per_node=4,
        scaleup_domain_gpus=72,
        superpod=True,
        superpod_unbounded=True,
        profile="paper",
    )


def standard_workload() -> Workload:
    return Workload(tpot_ms=50, context_tokens=4096, mtp_acceptance=1.7, step_gap_ms=15)


def make_instance(
    model: Model | None = None,
    hardware: Hardware | None = None,
    workload: Workload | None = None,
    **search: object,
) -> Instance:
    base = Search()
    fields = {k: (IntRange(*v) if isinstance(v, tuple) else v) for k, v in search.items()}
    return Instance(
        "test",
        model or deepseek_v3(),
        hardware or h800_paper(),
        workload or standard_workload(),
        dataclasses.replace(base, **fields),
    )


@pytest.fixture
def standard() -> Instance:
    return make_instance(
        attention_nodes=(1, 16), ffn_nodes=(1, 16), nodes=(1, 16), sequences_per_gpu=(1, 512)
    )
