"""Launch commands of SGLang, vLLM and TensorRT-LLM for one deployment, one per node role
(EP here; TP in `solver.launch.engines_tp`).

Every value that follows from the deployment is set from the `LaunchPlan` (docs/model.md §2,
§7, §9); everything else keeps the engine's default. The model path, the head node's address
and each node's rank are placeholders (`${MODEL_PATH}`, `${HEAD_ADDR}`, `${NODE_RANK}`).
Every flag used must be in the engine's pinned list (`solver.launch.flags`); the tests parse
each command back and compare its values with the deployment.

No engine at its pinned version runs AFD (attention and experts on separate pools): none of
their flag lists has such an option. `unsupported` says so, and for what else an engine cannot
run; the caller then writes the manifest.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from formulations import archspec
from solver.launch.expert_map import from_yaml, to_yaml, trtllm_load_balancer
from solver.launch.flags import ENGINE_VERSIONS
from solver.launch.plan import LaunchPlan

ENGINES = ("sglang", "vllm", "trtllm")
MODEL = "${MODEL_PATH}"
HEAD = "${HEAD_ADDR}"
NODE_RANK = "${NODE_RANK}"
EXPERT_MAP_FILE = {"sglang": "expert-location.json", "vllm": "expert-map.vllm.json"}
TRTLLM_CONFIG = "trtllm-config.yaml"
SGLANG_KV = {"fp8": "fp8_e4m3", "bf16": "auto"}
VLLM_KV = {"fp8": "fp8", "bf16": "auto"}
TRTLLM_KV = {"fp8": "fp8", "bf16": "auto"}


@dataclass(frozen=True)
class Role:
    """One kind of node: how many run it and its command line (`prefix` is the launcher in
    front of the engine's own command, not an engine flag)."""

    name: str
    nodes: int
    argv: tuple[str, ...]
    prefix: tuple[str, ...] = ()

    def command(self) -> str:
        return " ".join(shlex.quote(a) if "$" not in a else a for a in (*self.prefix, *self.argv))


@dataclass(frozen=True)
class Launch:
    """An engine's launch configuration: roles, files to write next to them, notes."""

    engine: str
    version: str
    roles: tuple[Role, ...]
    files: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()


def unsupported(engine: str, plan: LaunchPlan) -> str | None:
    """Why `engine` at its pinned version cannot run the plan's deployment, or None."""
    name = ENGINE_VERSIONS[engine]
    if archspec.get(plan.arch).engine == "disaggregated":
        return (
            f"{name} does not run {archspec.label(plan.arch)}: no flag of its pinned list puts "
            "attention and the expert FFNs on separate pools"
        )
    if plan.micro_batches > 2:
        return (
            f"{name} overlaps at most two micro-batches; the deployment uses {plan.micro_batches}"
        )
    if plan.kv_dtype is None:
        return (
            f"{name}: no KV-cache dtype stores {plan.inst.model.kv_cache_bytes:g} bytes per "
            "element (fp8 = 1, bf16 = 2)"
        )
    return None


def build(engine: str, plan: LaunchPlan, expert_map: str | None) -> Launch:
    """The launch configuration of `engine` (`ENGINES`) for a data-parallel (EP) plan.
    `expert_map`: the engine's expert-map text (`solver.launch.expert_map.render`), or None
    for the default. Tensor-parallel plans: `solver.launch.engines_tp`."""
    return {"sglang": sglang, "vllm": vllm, "trtllm": trtllm}[engine](plan, expert_map)


def common_notes(plan: LaunchPlan) -> list[str]:
    """The plan's notes and what every engine's configuration leaves to the user."""
    notes = list(plan.notes)
    if plan.draft_tokens and not plan.inst.model.mtp_layers:
        notes.append(
            f"the workload accepts {plan.inst.workload.mtp_acceptance:g} tokens per step but the "
            "model has no MTP layers: give the engine a draft model, or expect a slower TPOT"
        )
    notes.append(
        "sized for decode: with prefill-decode disaggregation add the engine's decode-mode "
        "settings and a prefill pool"
    )
    return notes


def _speculative(plan: LaunchPlan) -> bool:
    return plan.draft_tokens > 0 and bool(plan.inst.model.mtp_layers)


def sglang_speculative(plan: LaunchPlan) -> list[str]:
    """SGLang's MTP flags: d draft steps of one token each (top-1), d + 1 tokens verified."""
    if not _speculative(plan):
        return []
    d = plan.draft_tokens
    argv = ["--speculative-algorithm", "NEXTN", "--speculative-num-steps", str(d)]
    return argv + ["--speculative-eagle-topk", "1", "--speculative-num-draft-tokens", str(d + 1)]


def vllm_speculative(plan: LaunchPlan) -> list[str]:
    if not _speculative(plan):
        return []
    spec = {"method": "mtp", "num_speculative_tokens": plan.draft_tokens}
    return ["--speculative-config", json.dumps(spec, separators=(",", ":"))]


def vllm_graph_tokens(plan: LaunchPlan) -> int:
    """vLLM's CUDA-graph capture size counts tokens: the step's requests times 1 + drafts."""
    return plan.graph_batch * (1 + (plan.draft_tokens if _speculative(plan) else 0))


def trtllm_speculative(plan: LaunchPlan) -> dict[str, Any]:
    if not _speculative(plan):
        return {}
    return {
        "speculative_config": {
            "decoding_type": "MTP",
            "num_nextn_predict_layers": plan.draft_tokens,
        }
    }


def sglang(plan: LaunchPlan, expert_map: str | None) -> Launch:
    """`python -m sglang.launch_server` on every node (SGLang 0.5.23): attention data
    parallel over every GPU, expert parallel over every GPU with DeepEP's low-latency
    all-to-all; `--max-running-requests` is the whole server's (SGLang divides it by the
    attention data-parallel size), the CUDA-graph batch and the rest are per rank."""
    gpus, nodes = plan.serving.gpus, plan.serving.nodes
    argv = ["python", "-m", "sglang.launch_server", "--model-path", MODEL, "--trust-remote-code"]
    argv += ["--tp-size", str(gpus), "--attn-dp-size", str(gpus), "--ep-size", str(gpus)]
    if nodes > 1:
        argv += ["--nnodes", str(nodes), "--node-rank", NODE_RANK]
        argv += ["--dist-init-addr", f"{HEAD}:5000"]
    if plan.inst.model.num_dense_layers:
        argv += ["--moe-dense-tp-size", "1"]
    argv += ["--enable-dp-lm-head", "--moe-a2a-backend", "deepep", "--deepep-mode", "low_latency"]
    argv += ["--max-running-requests", str(plan.sequences_per_gpu * gpus)]
    argv += ["--cuda-graph-max-bs-decode", str(plan.graph_batch)]
    argv += ["--mem-fraction-static", f"{plan.static_fraction():.3f}"]
    argv += ["--kv-cache-dtype", SGLANG_KV[str(plan.kv_dtype)]]
    if plan.micro_batches == 2:
        argv.append("--enable-two-batch-overlap")
    files = {}
    if plan.engine_redundant:
        argv += ["--ep-num-redundant-experts", str(plan.engine_redundant)]
    if expert_map is not None:
        argv += ["--init-expert-location", EXPERT_MAP_FILE["sglang"]]
        files[EXPERT_MAP_FILE["sglang"]] = expert_map
    elif plan.engine_redundant:
        argv.append("--enable-eplb")  # no loads to place on: balance online
    argv += sglang_speculative(plan)
    argv += ["--host", "0.0.0.0", "--port", "30000"]
    role = Role("node" if nodes > 1 else "server", nodes, tuple(argv))
    return Launch(
        "sglang", ENGINE_VERSIONS["sglang"], (role,), files, notes=tuple(common_notes(plan))
    )


def vllm(plan: LaunchPlan, expert_map: str | None) -> Launch:
    """`vllm serve` (vLLM 0.33.0): one data-parallel rank per GPU with expert parallelism and
    DeepEP's low-latency all-to-all; the head node serves the API, the others run headless.
    `--max-num-seqs` is per data-parallel rank; the CUDA-graph capture size counts tokens
    (requests times 1 + draft tokens)."""
    pool = plan.serving
    local = min(pool.gpus_per_node, pool.gpus)
    head = ["vllm", "serve", MODEL, "--trust-remote-code", "--tensor-parallel-size", "1"]
    head += ["--data-parallel-size", str(pool.gpus), "--data-parallel-size-local", str(local)]
    head += ["--enable-expert-parallel", "--all2all-backend", "deepep_low_latency"]
    head += ["--max-num-seqs", str(plan.sequences_per_gpu)]
    head += ["--max-cudagraph-capture-size", str(vllm_graph_tokens(plan))]
    head += ["--gpu-memory-utilization", f"{plan.total_fraction():.3f}"]
    head += ["--kv-cache-dtype", VLLM_KV[str(plan.kv_dtype)]]
    if plan.micro_batches == 2:
        head.append("--enable-dbo")
    files = {}
    notes = common_notes(plan)
    if plan.engine_redundant:
        eplb = {"num_redundant_experts": plan.engine_redundant}
        head += ["--enable-eplb", "--eplb-config", json.dumps(eplb, separators=(",", ":"))]
    if expert_map is not None:
        files[EXPERT_MAP_FILE["vllm"]] = expert_map
        notes.append(
            "vLLM 0.33.0 loads no expert map at start-up: EPLB starts from its own layout "
            f"and rebalances; {EXPERT_MAP_FILE['vllm']} holds the placed map for reference"
        )
    head += vllm_speculative(plan)
    roles = []
    if pool.nodes > 1:
        head += ["--data-parallel-address", HEAD, "--data-parallel-rpc-port", "13345"]
        worker = [*head, "--headless", "--data-parallel-start-rank", f"$((NODE_RANK * {local}))"]
        head += ["--data-parallel-start-rank", "0"]
        roles.append(Role("head", 1, tuple(head + ["--port", "8000"])))
        roles.append(Role("worker", pool.nodes - 1, tuple(worker)))
    else:
        roles.append(Role("server", 1, tuple(head + ["--port", "8000"])))
    return Launch("vllm", ENGINE_VERSIONS["vllm"], tuple(roles), files, notes=tuple(notes))


def trtllm(plan: LaunchPlan, expert_map: str | None) -> Launch:
    """`trtllm-serve serve` with a YAML config (TensorRT-LLM main @ 00209af), one MPI rank per
    GPU over every node: attention data parallel, wide expert parallelism (the WIDEEP MoE
    backend, whose load balancer takes the static expert map), MTP, CUDA graphs."""
    pool = plan.serving
    gpus = pool.gpus
    config: dict[str, Any] = {
        "enable_attention_dp": True,
        "max_batch_size": plan.sequences_per_gpu,
        "cuda_graph_config": {"max_batch_size": plan.graph_batch, "enable_padding": True},
        "moe_config": {"backend": "WIDEEP"},
        "kv_cache_config": {
            "dtype": TRTLLM_KV[str(plan.kv_dtype)],
            "free_gpu_memory_fraction": plan.kv_share_of_free(),
        },
    }
    if plan.engine_redundant or expert_map is not None:
        model = plan.inst.model
        balancer = trtllm_load_balancer(
            None, plan.physical_experts, model.num_layers, model.num_dense_layers
        )
        if expert_map is not None:
            balancer = from_yaml(expert_map)["moe_config"]["load_balancer"]
        config["moe_config"]["load_balancer"] = balancer
    config.update(trtllm_speculative(plan))
    argv = ["trtllm-serve", "serve", MODEL, "--backend", "pytorch", "--trust_remote_code"]
    argv += ["--tp_size", str(gpus), "--ep_size", str(gpus)]
    argv += ["--max_batch_size", str(plan.sequences_per_gpu)]
    argv += ["--config", TRTLLM_CONFIG, "--host", "0.0.0.0", "--port", "8000"]
    prefix = ("srun", f"--nodes={pool.nodes}", f"--ntasks={gpus}",
              f"--ntasks-per-node={min(pool.gpus_per_node, gpus)}", "--mpi=pmix",
              "trtllm-llmapi-launch")  # fmt: skip
    notes = common_notes(plan)
    if plan.micro_batches == 2:
        notes.append(
            "TensorRT-LLM's pinned flags have no two-micro-batch overlap switch; its own "
            "scheduler overlaps communication"
        )
    role = Role("all nodes (one MPI job)", pool.nodes, tuple(argv), prefix)
    files = {TRTLLM_CONFIG: to_yaml(config)}
    return Launch("trtllm", ENGINE_VERSIONS["trtllm"], (role,), files, config, tuple(notes))
