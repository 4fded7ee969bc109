"""Cross-field rules of instance files, one `check_*` per object; each says how to fix it."""

from __future__ import annotations

from formulations.types import ARCHITECTURES, Hardware, Model, Search, Workload

_ATTENTION_FIELDS = {
    "mla": ("kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim"),
    "gqa": ("num_kv_heads", "head_dim"),
    "mha": ("head_dim",),
    "mfa": ("num_kv_heads", "head_dim", "q_lora_rank"),
}


def check_model(m: Model) -> list[str]:
    problems = []
    for name in _ATTENTION_FIELDS[m.attention]:
        if getattr(m, name) is None:
            problems.append(f"{name}: missing, required by attention = '{m.attention}'")
    if m.num_dense_layers >= m.num_layers:
        problems.append(
            f"num_dense_layers = {m.num_dense_layers} must be below num_layers = {m.num_layers}"
        )
    if m.experts_per_token > m.num_routed_experts:
        problems.append(
            f"experts_per_token = {m.experts_per_token} exceeds num_routed_experts = "
            f"{m.num_routed_experts}"
        )
    if m.num_dense_layers > 0 and m.dense_intermediate_size is None:
        problems.append("dense_intermediate_size: missing, required when num_dense_layers > 0")
    if (m.n_group is None) != (m.topk_group is None):
        problems.append("n_group and topk_group: give both (node-limited routing) or neither")
    elif m.n_group is not None and m.topk_group is not None:
        if m.topk_group > m.n_group:
            problems.append(f"topk_group = {m.topk_group} exceeds n_group = {m.n_group}")
        if m.num_routed_experts % m.n_group:
            problems.append(
                f"n_group = {m.n_group} must divide num_routed_experts = {m.num_routed_experts}"
            )
    if m.num_kv_heads is not None and m.num_attention_heads % m.num_kv_heads:
        problems.append(
            f"num_kv_heads = {m.num_kv_heads} must divide num_attention_heads = "
            f"{m.num_attention_heads}"
        )
    return problems


def check_hardware(hw: Hardware) -> list[str]:
    problems = []
    if hw.scaleup_domain_gpus < hw.gpus_per_node:
        problems.append(
            f"scaleup_domain_gpus = {hw.scaleup_domain_gpus} is smaller than gpus_per_node = "
            f"{hw.gpus_per_node}"
        )
    points = sorted(hw.gemm_calibration)
    if points:
        if any(t <= 0 or r <= 0 for t, r in points):
            problems.append("gemm_calibration: tokens_per_expert and tflops must be > 0")
        # The cap search needs GEMM time to grow with the tokens: tokens / rate non-decreasing.
        elif any(t2 / r2 < t1 / r1 for (t1, r1), (t2, r2) in zip(points, points[1:], strict=False)):
            problems.append(
                "gemm_calibration: time per expert (tokens_per_expert / tflops) must not fall as "
                "tokens grow; check the measurements"
            )
    return problems


def check_search(s: Search) -> list[str]:
    problems = []
    unknown = [a for a in s.architectures if a not in ARCHITECTURES]
    if unknown or not s.architectures:
        problems.append(
            f"search.architectures = {list(s.architectures)}: "
            f"choose from {', '.join(ARCHITECTURES)}"
        )
    if s.afd_micro_batches.lo < 3:
        problems.append(
            f"search.afd_micro_batches: min {s.afd_micro_batches.lo} is out of range: AFD needs "
            ">= 3 micro-batches (three-batch overlap, MODEL.md section 2)"
        )
    for name in ("attention_nodes", "ffn_nodes", "nodes", "sequences_per_gpu", "ep_micro_batches"):
        rng = getattr(s, name)
        if rng.lo < 1:
            problems.append(f"search.{name}: min {rng.lo} is out of range: must be >= 1")
    if s.redundant_experts.lo < 0:
        problems.append(f"search.redundant_experts: min {s.redundant_experts.lo} must be >= 0")
    if s.experts_per_gpu is not None and s.experts_per_gpu.lo < 1:
        problems.append(f"search.experts_per_gpu: min {s.experts_per_gpu.lo} must be >= 1")
    return problems


def check_workload_search(w: Workload, s: Search) -> list[str]:
    problems = []
    if s.objective == "total_tokens" and s.max_gpus is None:
        problems.append("search.max_gpus: required by objective = 'total_tokens' (the GPU cap)")
    if s.objective == "min_gpus" and w.demand_tokens_per_s is None:
        problems.append("workload.demand_tokens_per_s: required by objective = 'min_gpus'")
    return problems
