"""Launch commands of SGLang, vLLM and TensorRT-LLM for one tensor-parallel deployment.

A TP deployment is `r` independent groups of `t` GPUs (docs/model.md §20.1); each group is one
engine server with tensor parallelism `t` holding `n` sequences (every GPU of a group works on
every sequence, so the running-request cap is `n` per server). The groups share nothing, so
they are `r` copies of one server behind the user's load balancer; a group wider than a node
(a rack's domain) spans `t / gpus_per_node` nodes, one role per node rank. The same pinned
flag lists as the EP launches apply (`solver.launch.flags`); the values are set from the
`LaunchPlan` like theirs (`solver.launch.engines`).
"""

from __future__ import annotations

import math
from typing import Any

from solver.launch import engines
from solver.launch.expert_map import to_yaml
from solver.launch.flags import ENGINE_VERSIONS
from solver.launch.plan import LaunchPlan


def _span(plan: LaunchPlan) -> tuple[int, int]:
    """(nodes one group spans, GPUs of the group on each of them)."""
    t, per_node = plan.group_gpus, plan.serving.gpus_per_node
    nodes = math.ceil(t / per_node)
    return nodes, min(t, per_node)


def _notes(plan: LaunchPlan) -> list[str]:
    notes = engines.common_notes(plan)
    r, t = plan.groups, plan.group_gpus
    if r > 1:
        nodes, _ = _span(plan)
        where = (
            f"{nodes} node(s) each" if nodes > 1 else "its own GPUs (CUDA_VISIBLE_DEVICES) and port"
        )
        notes.append(
            f"{r} independent groups: start this server {r} times, each on {where}, behind a "
            "load balancer (e.g. SGLang's router); the groups share nothing"
        )
    notes.append(
        f"tensor parallelism over {t} GPU(s) of one scale-up domain: every GPU holds a 1/{t} "
        "slice of every expert, so there is no expert map and no redundant experts"
    )
    return notes


def _roles(plan: LaunchPlan, argv: list[str], multi: list[str]) -> tuple[engines.Role, ...]:
    """One role per group (copied r times), or per node rank of a group wider than a node."""
    nodes, _ = _span(plan)
    if nodes == 1:
        return (engines.Role("group server", plan.groups, tuple(argv)),)
    return (engines.Role("group, every node rank", plan.groups * nodes, tuple(argv + multi)),)


def sglang(plan: LaunchPlan, expert_map: str | None) -> engines.Launch:
    """`python -m sglang.launch_server --tp-size t` per group (SGLang 0.5.23): no attention
    data parallelism, no expert parallelism; the cap and the CUDA-graph batch are the group's."""
    del expert_map  # no expert ranks under TP
    argv = ["python", "-m", "sglang.launch_server", "--model-path", engines.MODEL]
    argv += ["--trust-remote-code", "--tp-size", str(plan.group_gpus)]
    argv += ["--max-running-requests", str(plan.sequences_per_gpu)]
    argv += ["--cuda-graph-max-bs-decode", str(plan.graph_batch)]
    argv += ["--mem-fraction-static", f"{plan.static_fraction():.3f}"]
    argv += ["--kv-cache-dtype", engines.SGLANG_KV[str(plan.kv_dtype)]]
    argv += engines.sglang_speculative(plan)
    argv += ["--host", "0.0.0.0", "--port", "30000"]
    nodes, _ = _span(plan)
    multi = ["--nnodes", str(nodes), "--node-rank", engines.NODE_RANK]
    multi += ["--dist-init-addr", f"{engines.HEAD}:5000"]
    return engines.Launch(
        "sglang", ENGINE_VERSIONS["sglang"], _roles(plan, argv, multi), notes=tuple(_notes(plan))
    )


def vllm(plan: LaunchPlan, expert_map: str | None) -> engines.Launch:
    """`vllm serve --tensor-parallel-size t` per group (vLLM 0.33.0); `--max-num-seqs` is the
    group's batch, the CUDA-graph capture size counts tokens (requests times 1 + drafts)."""
    del expert_map
    argv = ["vllm", "serve", engines.MODEL, "--trust-remote-code"]
    argv += ["--tensor-parallel-size", str(plan.group_gpus)]
    argv += ["--max-num-seqs", str(plan.sequences_per_gpu)]
    argv += ["--max-cudagraph-capture-size", str(engines.vllm_graph_tokens(plan))]
    argv += ["--gpu-memory-utilization", f"{plan.total_fraction():.3f}"]
    argv += ["--kv-cache-dtype", engines.VLLM_KV[str(plan.kv_dtype)]]
    argv += engines.vllm_speculative(plan)
    argv += ["--port", "8000"]
    nodes, _ = _span(plan)
    multi = ["--nnodes", str(nodes), "--node-rank", engines.NODE_RANK]
    multi += ["--master-addr", engines.HEAD]
    return engines.Launch(
        "vllm", ENGINE_VERSIONS["vllm"], _roles(plan, argv, multi), notes=tuple(_notes(plan))
    )


def trtllm(plan: LaunchPlan, expert_map: str | None) -> engines.Launch:
    """`trtllm-serve serve --tp_size t` per group (TensorRT-LLM main @ 00209af), one MPI rank
    per GPU of the group; no attention data parallelism."""
    del expert_map
    t = plan.group_gpus
    config: dict[str, Any] = {
        "enable_attention_dp": False,
        "max_batch_size": plan.sequences_per_gpu,
        "cuda_graph_config": {"max_batch_size": plan.graph_batch, "enable_padding": True},
        "kv_cache_config": {
            "dtype": engines.TRTLLM_KV[str(plan.kv_dtype)],
            "free_gpu_memory_fraction": plan.kv_share_of_free(),
        },
    }
    config.update(engines.trtllm_speculative(plan))
    argv = ["trtllm-serve", "serve", engines.MODEL, "--backend", "pytorch", "--trust_remote_code"]
    argv += ["--tp_size", str(t), "--max_batch_size", str(plan.sequences_per_gpu)]
    argv += ["--config", engines.TRTLLM_CONFIG, "--host", "0.0.0.0", "--port", "8000"]
    nodes, local = _span(plan)
    prefix = ("srun", f"--nodes={nodes}", f"--ntasks={t}", f"--ntasks-per-node={local}",
              "--mpi=pmix", "trtllm-llmapi-launch")  # fmt: skip
    role = engines.Role("group (one MPI job)", plan.groups * nodes, tuple(argv), prefix)
    files = {engines.TRTLLM_CONFIG: to_yaml(config)}
    return engines.Launch(
        "trtllm", ENGINE_VERSIONS["trtllm"], (role,), files, config, tuple(_notes(plan))
    )


BUILDERS = {"sglang": sglang, "vllm": vllm, "trtllm": trtllm}
