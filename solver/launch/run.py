"""`afd-solver launch` and `solve --launch`: choose (or take) a deployment, place its experts,
and render the engine's launch configuration and the manifest.

Pipeline: choose -> plan -> place -> render -> write. Output paths are checked by the caller
before any of it runs (`solver.io.outputs`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from formulations import archspec
from formulations.layouts import layout_eps
from formulations.types import Deployment, Instance
from solver.errors import InputError
from solver.imbalance import imbalance_fn
from solver.io.deployment_spec import REQUIRED, deployment_on_pairing
from solver.io.outputs import replacing
from solver.launch import engines, engines_tp, expert_map
from solver.launch.flags import ENGINE_VERSIONS
from solver.launch.manifest import manifest
from solver.launch.plan import LaunchPlan, make_plan

CHOICES = (*engines.ENGINES, "manifest")
MANIFEST_FILE = "manifest.json"


def script_name(engine: str) -> str:
    return f"launch-{engine}.sh"


def output_files(engine: str) -> list[str]:
    """Every file `write` may create for `engine` (checked before any work)."""
    files = [MANIFEST_FILE]
    if engine in engines.ENGINES:
        files.append(script_name(engine))
    if engine in engines.EXPERT_MAP_FILE:
        files.append(engines.EXPERT_MAP_FILE[engine])
    if engine == "trtllm":
        files.append(engines.TRTLLM_CONFIG)
    return files


def engine_choice(text: str | None, option: str = "--engine") -> str | None:
    if text is not None and text not in CHOICES:
        raise InputError([f"{option} {text!r}: choose from {', '.join(CHOICES)}"])
    return text


@dataclass
class Handover:
    """What `launch` produced: the engine's configuration (None when it cannot run the
    deployment: `reason` says why) and the manifest."""

    engine: str
    plan: LaunchPlan
    launch: engines.Launch | None
    reason: str | None
    manifest: dict[str, Any]
    row: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def deployment_of_row(row: dict[str, Any], inst: Instance) -> tuple[Instance, Deployment]:
    """The deployment (and its single-pairing instance) of one `solve` result row."""
    spec: dict[str, Any] = {
        "arch": row["architecture"],
        "sequences_per_gpu": row["sequences_per_gpu"],
        "micro_batches": row["micro_batches"],
        "redundant_experts": row["redundant_experts"],
    }
    arch = archspec.get(row["architecture"])
    spec.update({c: row[c] for c in REQUIRED[arch.name] if c in row})
    if arch.own_ffn_hardware:
        spec.update(attention_hardware=row["attention_hardware"], ffn_hardware=row["ffn_hardware"])
    else:
        spec.update(hardware=row["attention_hardware"])
    return _on_pairing(spec, inst)


def _on_pairing(spec: str | dict[str, Any], inst: Instance) -> tuple[Instance, Deployment]:
    return deployment_on_pairing(spec, inst)


def choose(
    inst: Instance,
    spec: str | None,
    arch: str | None,
    backend: str | None,
    time_limit_s: float | None,
) -> tuple[Instance, Deployment, dict[str, Any]]:
    """The given deployment, or `solve`'s best (of `arch` when given)."""
    from solver import report
    from solver.api import evaluate, solve

    if spec is not None:
        branch, d = _on_pairing(spec, inst)
        row = report.records(evaluate(inst, spec))[0]
        return branch, d, row
    df = solve(
        inst,
        architectures=[arch] if arch else None,
        backend=backend,
        time_limit_s=time_limit_s,
    )
    rows = [r for r in report.records(df) if r["status"] in ("optimal", "feasible")]
    if not rows:
        raise InputError(
            [f"{inst.path or inst.name}: no deployment to launch ({report.verdict(df)})"]
        )
    lower = inst.search.objective == "min_gpus"
    best = min(rows, key=lambda r: r["objective"] * (1 if lower else -1))
    branch, d = deployment_of_row(best, inst)
    return branch, d, best


def place(
    plan: LaunchPlan, loads: np.ndarray | None, time_limit_s: float, workers: int | None
) -> tuple[np.ndarray, bool]:
    """The `(MoE layers, P, G)` expert map: placed on `loads` (docs/model.md §14), else the
    trivial one. Every slot is filled (G P replicas), as the engines want."""
    from solver.placement.place import place_layers

    model = plan.inst.model
    layers, ranks, slots = model.num_moe_layers, plan.expert_ranks, plan.slots_per_rank
    if loads is None or plan.sliced:  # sliced (TP): every rank holds every expert
        return expert_map.trivial_map(layers, ranks, slots, model.num_routed_experts), False
    _, table = place_layers(
        loads, ranks, slots, plan.engine_redundant, time_limit_s=time_limit_s, workers=workers
    )
    return expert_map.from_placement(table, layers, ranks, slots), True


def handover(
    engine: str,
    inst: Instance,
    d: Deployment,
    row: dict[str, Any],
    *,
    loads: np.ndarray | None,
    command: str,
    place_time_s: float = 2.0,
    workers: int | None = None,
) -> Handover:
    """Render `engine`'s configuration of deployment `d` (on single-pairing `inst`)."""
    eps = layout_eps(imbalance_fn(inst), d, inst.search.unit_gpus)
    plan = make_plan(inst, d, eps)
    if loads is not None and plan.sliced:
        plan.notes.append(
            "expert loads ignored: every GPU of a tensor-parallel group holds a slice of every "
            "expert, so there is nothing to place"
        )
    rank_slots, placed = place(plan, loads, place_time_s, workers)
    status = {e: engines.unsupported(e, plan) or "runs" for e in engines.ENGINES}
    doc = manifest(plan, rank_slots, placed, status, command)
    if engine == "manifest":
        return Handover(engine, plan, None, None, doc, row, list(plan.notes))
    reason = engines.unsupported(engine, plan)
    if reason is not None:
        note = f"{reason}; wrote the manifest ({MANIFEST_FILE}) for an orchestrator instead"
        return Handover(engine, plan, None, reason, doc, row, [note])
    text = None
    if placed and engine in expert_map.FORMATS:
        model = plan.inst.model
        text = expert_map.render(
            engine, rank_slots, model.num_routed_experts, model.num_layers, model.num_dense_layers
        )
    if archspec.get(plan.arch).engine == "tensor-parallel":
        launch = engines_tp.BUILDERS[engine](plan, text)
    else:
        launch = engines.build(engine, plan, text)
    return Handover(engine, plan, launch, None, doc, row, list(launch.notes))


def script(h: Handover) -> str:
    """The shell script of an engine's roles (one role per node kind)."""
    assert h.launch is not None
    plan, exp = h.plan, h.plan.expected()
    pool = plan.serving
    lines = [
        "#!/bin/sh",
        f"# afd-solver: {h.launch.version}, {plan.arch.upper()} on {pool.nodes} node(s) x "
        f"{pool.gpus_per_node} GPUs ({pool.hardware}), {plan.sequences_per_gpu} sequences per "
        f"GPU in {plan.micro_batches} micro-batches of <= {plan.micro_batch_size}",
        f"# expected: TPOT {exp['tpot_ms']:.1f} ms, {exp['tokens_per_s']:,.0f} tokens/s "
        f"({exp['tokens_per_s_per_gpu']:,.0f} per GPU)",
        "# set MODEL_PATH, and on several nodes HEAD_ADDR (node 0's address) and NODE_RANK",
        "set -e",
    ]
    lines += [f"# note: {n}" for n in h.notes]
    roles = h.launch.roles
    if len(roles) == 1:
        lines += [f"# role {roles[0].name} ({roles[0].nodes} node(s))", roles[0].command()]
    else:
        lines.append('if [ "${NODE_RANK:-0}" = 0 ]; then')
        lines += [f"  # role {roles[0].name}", f"  {roles[0].command()}", "else"]
        lines += [f"  # role {roles[1].name} ({roles[1].nodes} node(s))", f"  {roles[1].command()}"]
        lines.append("fi")
    return "\n".join(lines) + "\n"


def write(h: Handover, out: Path) -> list[Path]:
    """Write the manifest and, when the engine runs the deployment, its script and files."""
    import json

    texts = {MANIFEST_FILE: json.dumps(h.manifest, indent=1) + "\n"}
    if h.launch is not None:
        texts[script_name(h.engine)] = script(h)
        texts.update(h.launch.files)
    written = []
    for name, text in texts.items():
        path = out / name
        with replacing(path) as tmp:
            tmp.write_text(text)
        written.append(path)
    return written


def summary(h: Handover) -> dict[str, Any]:
    """`launch --format json`: what was produced, the commands and the notes."""
    roles = [] if h.launch is None else h.launch.roles
    return {
        "engine": h.engine,
        "version": ENGINE_VERSIONS.get(h.engine, "manifest"),
        "supported": h.launch is not None or h.engine == "manifest",
        "reason": h.reason,
        "deployment": h.row,
        "roles": [
            {"name": r.name, "nodes": r.nodes, "command": r.command(), "argv": list(r.argv)}
            for r in roles
        ],
        "files": output_files(h.engine) if h.launch is not None else [MANIFEST_FILE],
        "notes": h.notes,
    }


def text(h: Handover) -> str:
    """The human form: the verdict on the engine, then each role's command."""
    row = h.row
    shape = f"{archspec.label(row['architecture'])} on {archspec.units_text(row)}"
    lines = [
        f"deployment: {shape}, {row['sequences_per_gpu']} sequences/GPU, "
        f"{row['micro_batches']} micro-batches, TPOT {row['tpot_ms']:.1f} ms, "
        f"{row['tokens_per_s_per_gpu']:,.0f} tokens/s/GPU"
    ]
    if h.launch is None:
        lines.append(h.reason or "manifest only")
    else:
        for role in h.launch.roles:
            lines.append(f"# {h.launch.version}, role {role.name} ({role.nodes} node(s)):")
            lines.append(role.command())
        for name in h.launch.files:
            lines.append(f"# with file {name}")
    # An engine that cannot run the deployment said why above; its note repeats it.
    lines += [f"note: {n}" for n in h.notes if h.reason is None or not n.startswith(h.reason)]
    return "\n".join(lines)
