"""The deployment manifest: a documented JSON an orchestrator reads, for every deployment
(and the only hand-over where no engine runs it, as for AFD today).

The schema is `solver/launch/manifest.schema.json` (JSON Schema); `validate` checks a document
against it with a small hand-written checker of the keywords the schema uses (type, required,
properties, items, enum, minimum, minItems), so no new dependency is needed.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import numpy as np

from formulations import archspec
from solver.launch.expert_map import moe_layer_ids
from solver.launch.plan import LaunchPlan

SCHEMA_VERSION = 1


@functools.cache
def schema() -> dict[str, Any]:
    text = resources.files("solver.launch").joinpath("manifest.schema.json").read_text()
    return dict(json.loads(text))


def manifest(
    plan: LaunchPlan,
    rank_slots: np.ndarray,
    placed: bool,
    engines: dict[str, str],
    command: str,
) -> dict[str, Any]:
    """The manifest of one plan; `rank_slots` is its `(MoE layers, P, G)` expert map."""
    inst, m = plan.inst, plan.metrics
    model = inst.model
    pools = []
    spec = {p.name: p for p in archspec.get(plan.arch).pools}
    for pool in plan.pools:
        serving, experts = spec[pool.name].serves, spec[pool.name].experts
        if not serving:  # an expert-only pool (AFD's FFN) has its own memory figures
            used, usable = m["ffn_bytes"], m["ffn_usable_bytes"]
        else:
            used = m.get("gpu_bytes", m.get("attention_bytes", 0.0))
            usable = m["usable_bytes"]
        entry: dict[str, Any] = {
            "name": pool.name,
            "hardware": pool.hardware,
            "nodes": pool.nodes,
            "gpus_per_node": pool.gpus_per_node,
            "ranks": pool.gpus,
            "holds_sequences": serving,
            "holds_experts": experts,
            "memory_per_rank_gb": used / 1e9,
            "usable_per_rank_gb": usable / 1e9,
        }
        if serving:
            entry["sequences_per_rank"] = plan.sequences_per_gpu
        if experts:
            entry["expert_slots_per_rank"] = plan.slots_per_rank
        pools.append(entry)
    layers = moe_layer_ids(model.num_layers, model.num_dense_layers)
    w = inst.workload
    return {
        "schema_version": SCHEMA_VERSION,
        "command": command,
        "instance": inst.path or inst.name,
        "model": {
            "name": model.name,
            "num_layers": model.num_layers,
            "num_dense_layers": model.num_dense_layers,
            "num_routed_experts": model.num_routed_experts,
            "experts_per_token": model.experts_per_token,
        },
        "architecture": plan.arch,
        "engines": engines,
        "pools": pools,
        "micro_batches": plan.micro_batches,
        "micro_batch_size": plan.micro_batch_size,
        "sequences_per_gpu": plan.sequences_per_gpu,
        "redundant_experts": plan.engine_redundant,
        "draft_tokens": plan.draft_tokens,
        "experts": {
            "placement": "sliced" if plan.sliced else "placed" if placed else "trivial",
            "ranks": plan.expert_ranks,
            "slots_per_rank": plan.slots_per_rank,
            "layers": [
                {"layer": layer, "ranks": rank_slots[i].tolist()} for i, layer in enumerate(layers)
            ],
        },
        "expected": plan.expected(),
        "workload": {
            "tpot_target_ms": w.tpot_ms,
            "context_tokens": w.context_tokens,
            "mtp_acceptance": w.mtp_acceptance,
            "tokens_per_step": w.tokens_per_step,
        },
        "notes": list(plan.notes),
    }


_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
}


def _is(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False  # JSON booleans are not numbers
    return isinstance(value, _TYPES[kind])


def validate(doc: Any, node: dict[str, Any] | None = None, where: str = "$") -> list[str]:
    """Every way `doc` breaks the schema (`node`: a sub-schema), as `path: problem` lines."""
    node = schema() if node is None else node
    kind = node.get("type")
    if kind is not None and not _is(doc, kind):
        return [f"{where}: expected {kind}, got {type(doc).__name__}"]
    problems = []
    if "enum" in node and doc not in node["enum"]:
        problems.append(f"{where}: {doc!r} is not one of {node['enum']}")
    if "minimum" in node and doc < node["minimum"]:
        problems.append(f"{where}: {doc} is below {node['minimum']}")
    if isinstance(doc, dict):
        problems += [
            f"{where}: {key} is missing" for key in node.get("required", ()) if key not in doc
        ]
        for key, sub in node.get("properties", {}).items():
            if key in doc:
                problems += validate(doc[key], sub, f"{where}.{key}")
    if isinstance(doc, list):
        if len(doc) < node.get("minItems", 0):
            problems.append(f"{where}: fewer than {node['minItems']} items")
        if "items" in node:
            for i, item in enumerate(doc):
                problems += validate(item, node["items"], f"{where}[{i}]")
    return problems
