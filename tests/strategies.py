"""Hypothesis strategies: random small models, hardware, workloads and search spaces."""

from __future__ import annotations

from hypothesis import strategies as st

from formulations.types import Hardware, Instance, IntRange, Model, Search, Workload


@st.composite
def models(draw) -> Model:
    experts = draw(st.integers(2, 64))
    k = draw(st.integers(1, min(8, experts)))
    layers = draw(st.integers(2, 64))
    dense = draw(st.integers(0, min(3, layers - 1)))
    hidden = draw(st.sampled_from([256, 1024, 2048, 4096, 7168]))
    attention = draw(st.sampled_from(["mla", "gqa", "mha", "mfa"]))
    heads = draw(st.sampled_from([8, 16, 32, 64]))
    geo: dict = {}
    if attention == "mla":
        geo = dict(
            kv_lora_rank=draw(st.sampled_from([128, 512])),
            qk_rope_head_dim=64,
            qk_nope_head_dim=128,
            v_head_dim=128,
            q_lora_rank=draw(st.sampled_from([None, 768])),
        )
    elif attention in ("gqa", "mfa"):
        geo = dict(num_kv_heads=draw(st.sampled_from([1, 2, 4, 8])), head_dim=128)
        if attention == "mfa":
            geo["num_kv_heads"] = 1
            geo["q_lora_rank"] = 1024
    else:
        geo = dict(head_dim=64)
    groups: dict = {}
    if draw(st.booleans()):
        n_group = draw(st.sampled_from([g for g in (1, 2, 4, 8) if experts % g == 0]))
        groups = dict(n_group=n_group, topk_group=draw(st.integers(1, n_group)))
    return Model(
        name="random",
        num_layers=layers,
        num_dense_layers=dense,
        hidden_size=hidden,
        num_routed_experts=experts,
        experts_per_token=k,
        num_shared_experts=draw(st.integers(0, 2)),
        moe_intermediate_size=draw(st.sampled_from([256, 512, 1536, 2048, 5120])),
        vocab_size=draw(st.sampled_from([32000, 8000])),
        attention=attention,
        num_attention_heads=heads,
        dense_intermediate_size=4 * hidden if dense else None,
        **geo,
        **groups,
    )


@st.composite
def hardware(draw) -> Hardware:
    superpod = draw(st.booleans())
    gpus = draw(st.sampled_from([4, 8]))
    return Hardware(
        name="random",
        fp8_tflops=draw(st.floats(100, 5000)),
        bf16_tflops=draw(st.floats(50, 2500)),
        hbm_gb=draw(st.floats(40, 300)),
        hbm_tbps=draw(st.floats(1, 8)),
        scaleup_gbps=draw(st.floats(100, 900)),
        scaleout_gbps=draw(st.floats(10, 200)),
        gpus_per_node=gpus,
        scaleup_domain_gpus=draw(st.sampled_from([gpus, 16, 72])) if superpod else gpus,
        superpod=superpod,
        superpod_unbounded=superpod and draw(st.booleans()),
        ffn_efficiency=draw(st.floats(0.5, 1.0)),
        hbm_efficiency=draw(st.floats(0.5, 1.0)),
        **(draw(latencies()) if draw(st.booleans()) else {}),
    )


LATENCY_FIELDS = (
    "attention_latency_us",
    "grouped_gemm_latency_us",
    "dispatch_scale_up_latency_us",
    "combine_scale_up_latency_us",
    "dispatch_scale_out_latency_us",
    "combine_scale_out_latency_us",
)


@st.composite
def latencies(draw) -> dict[str, float]:
    """Fixed times of the stages (us): none, a few, or as long as whole stages."""
    return {f: draw(st.sampled_from([0.0, 5.0, draw(st.floats(0, 300))])) for f in LATENCY_FIELDS}


@st.composite
def workloads(draw) -> Workload:
    q = draw(st.sampled_from([1.0, 2.0]))
    return Workload(
        tpot_ms=draw(st.floats(15, 200)),
        context_tokens=draw(st.floats(128, 16384)),
        # at most what a step verifies: q tokens, or two with one draft (checks.py)
        mtp_acceptance=draw(st.floats(1, max(q, 2.0))),
        tokens_per_step=q,
        step_gap_ms=draw(st.floats(0, 10)),
        routing=draw(st.sampled_from(["worst-case", "node-limited"])),
        shared_experts=draw(st.sampled_from(["attention", "ffn"])),
        demand_tokens_per_s=draw(st.floats(1e3, 1e6)),
        dp_imbalance=draw(st.sampled_from([1.0, 0.9])),
        expert_imbalance=draw(st.sampled_from([1.0, 1.3])),
    )


def _range(draw, lo: int, hi: int) -> IntRange:
    a = draw(st.integers(lo, hi))
    b = draw(st.integers(a, hi))
    return IntRange(a, b)


@st.composite
def searches(draw) -> Search:
    objective = draw(
        st.sampled_from(
            [
                "tokens_per_gpu",
                "tokens_per_gpu",
                "total_tokens",
                "min_gpus",
                "tokens_per_gpu_at_target",
            ]
        )
    )
    return Search(
        unit_gpus=draw(st.sampled_from([1, 2, 4, 8])),
        objective=objective,
        max_gpus=draw(st.integers(8, 128)) if objective == "total_tokens" else None,
        attention_nodes=_range(draw, 1, 6),
        ffn_nodes=_range(draw, 1, 6),
        nodes=_range(draw, 1, 8),
        sequences_per_gpu=_range(draw, 1, 48),
        redundant_experts=_range(draw, 0, 3),
        afd_micro_batches=draw(st.sampled_from([IntRange(3, 3), IntRange(3, 4)])),
        ep_micro_batches=draw(st.sampled_from([IntRange(2, 2), IntRange(1, 2)])),
        tensor_parallel=_range(draw, 1, 16),
        tp_groups=_range(draw, 1, 6),
        tp_micro_batches=draw(st.sampled_from([IntRange(1, 1), IntRange(1, 2)])),
        time_limit_s=60.0,
    )


@st.composite
def instances(draw) -> Instance:
    return Instance("random", draw(models()), draw(hardware()), draw(workloads()), draw(searches()))
