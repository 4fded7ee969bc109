"""Parse a deployment given on the command line or as a dict (`evaluate --deployment`)."""

from __future__ import annotations

from typing import Any

from formulations import pairings
from formulations.types import ARCHITECTURES, Deployment, Hardware, Instance
from solver.errors import InputError
from solver.io import numbers
from solver.io.numbers import show

DEPLOYMENT_KEYS = {
    "arch": str,
    "architecture": str,
    "attention_nodes": int,
    "ffn_nodes": int,
    "nodes": int,
    "sequences_per_gpu": int,
    "micro_batches": int,
    "redundant_experts": int,
    "attention_hardware": str,
    "ffn_hardware": str,
    "hardware": str,
}
HARDWARE_KEYS = ("attention_hardware", "ffn_hardware", "hardware")
"""Which hardware pairing the deployment runs on (docs/model.md §17); read by
`deployment_pairing`, needed only when the instance lists several."""
REQUIRED = {
    "afd": ("attention_nodes", "ffn_nodes", "sequences_per_gpu"),
    "ep": ("nodes", "sequences_per_gpu"),
}
MAX_COUNT = 10**9
"""Largest node, sequence or replica count accepted (beyond it no memory holds anything)."""


def _fields(spec: str | dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    if not isinstance(spec, str):
        return dict(spec), []
    fields: dict[str, Any] = {}
    problems: list[str] = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep:
            problems.append(f"--deployment: {part!r} must be key=value")
        elif key in fields:
            problems.append(f"--deployment: {key} given twice")
        else:
            fields[key] = value.strip()
    return fields, problems


def _integer(key: str, value: Any, problems: list[str]) -> int | None:
    """A count from spec text or a dict value, through the one number conversion."""
    bounds = numbers.Bounds(ge=0 if key == "redundant_experts" else 1, le=MAX_COUNT)
    where = f"--deployment: {key}"
    if isinstance(value, str):
        number, problem = numbers.parse(value, where, integer=True, bounds=bounds)
    else:
        number, problem = numbers.convert(value, where, integer=True, bounds=bounds)
    if problem:
        problems.append(problem)
        return None
    return int(number)


POOLS = {"afd": ("attention", "ffn"), "ep": ("ep",)}
"""The pools of each architecture's `Deployment.nodes`, in order, and their spec keys."""
POOL_KEYS = {"attention": "attention_nodes", "ffn": "ffn_nodes", "ep": "nodes"}


def spec_of(d: Any, unit_gpus: int) -> dict[str, Any]:
    """A `Deployment` object as the spec fields `parse_deployment` takes, so an object is
    validated exactly like a `--deployment` string (its shape here, its values there).

    Args:
        unit_gpus: the instance's search.unit_gpus (a deployment may not size its own unit).
    """
    where = "deployment"
    arch = getattr(d, "architecture", None)
    if arch not in POOLS:
        raise InputError([f"{where}.architecture = {show(arch)}: one of {', '.join(POOLS)}"])
    nodes = getattr(d, "nodes", None)
    pools = POOLS[arch]
    shape_ok = (
        isinstance(nodes, tuple | list)
        and len(nodes) == len(pools)
        and all(isinstance(p, tuple | list) and len(p) == 2 for p in nodes)
        and tuple(p[0] for p in nodes) == pools
    )
    if not shape_ok:
        want = ", ".join(f"('{p}', units)" for p in pools)
        raise InputError([f"{where}.nodes = {show(nodes)}: {arch.upper()} needs ({want},)"])
    if d.unit_gpus is not None and d.unit_gpus != unit_gpus:
        raise InputError(
            [f"{where}.unit_gpus = {show(d.unit_gpus)}: the instance's search.unit_gpus is "
             f"{unit_gpus}; leave it None"]
        )  # fmt: skip
    spec: dict[str, Any] = {"arch": arch}
    spec.update({POOL_KEYS[p]: units for p, units in nodes or ()})
    spec.update(
        sequences_per_gpu=d.sequences_per_gpu,
        micro_batches=d.micro_batches,
        redundant_experts=d.redundant,
    )
    return spec


def parse_deployment(spec: str | dict[str, Any], inst: Instance) -> Deployment:
    """`arch=afd,attention_nodes=4,ffn_nodes=2,sequences_per_gpu=256` -> `Deployment`.

    sequences_per_gpu is every sequence in flight on one attention GPU (EP: one GPU), over all
    its micro-batches; micro_batches defaults to the search range's minimum.
    """
    fields, problems = _fields(spec)
    if "arch" in fields and "architecture" in fields:
        problems.append("--deployment: give arch or architecture, not both")
    values: dict[str, Any] = {}
    for key, value in fields.items():
        kind = DEPLOYMENT_KEYS.get(key)
        if kind is None:
            problems.append(
                f"--deployment: {key}: unknown key; allowed: {', '.join(DEPLOYMENT_KEYS)}"
            )
        elif kind is int:
            number = _integer(key, value, problems)
            if number is not None:
                values[key] = number
        elif key in HARDWARE_KEYS:
            continue
        else:
            values["arch"] = str(value).strip().lower()
    arch = values.get("arch")
    if arch not in REQUIRED:
        problems.append(f"--deployment: arch must be one of {', '.join(ARCHITECTURES)}")
    else:
        problems += [
            f"--deployment: {k}: missing, required for arch={arch}"
            for k in REQUIRED[arch]
            if k not in values and k not in fields
        ]
        nbo = values.get("micro_batches")
        if arch == "afd" and nbo is not None and nbo < 3:
            problems.append(
                "--deployment: micro_batches must be >= 3 for AFD (three-batch overlap)"
            )
        other = ("nodes",) if arch == "afd" else ("attention_nodes", "ffn_nodes")
        problems += [f"--deployment: {k}: not a field of arch={arch}" for k in other if k in fields]
    if problems:
        raise InputError(problems)
    s = inst.search
    default_nbo = (s.afd_micro_batches if arch == "afd" else s.ep_micro_batches).lo
    return Deployment(
        architecture=str(arch),
        sequences_per_gpu=values["sequences_per_gpu"],
        micro_batches=values.get("micro_batches", default_nbo),
        redundant=values.get("redundant_experts", s.redundant_experts.lo),
        nodes=(
            (("attention", values["attention_nodes"]), ("ffn", values["ffn_nodes"]))
            if arch == "afd"
            else (("ep", values["nodes"]),)
        ),
    )


def deployment_pairing(
    spec: str | dict[str, Any], inst: Instance, arch: str
) -> tuple[Hardware, Hardware]:
    """The (attention, FFN) hardware a deployment spec names among the instance's pairings.

    `hardware=X` means X for both pools (EP's only form); `attention_hardware` and
    `ffn_hardware` name AFD's pools. Keys left out are free: the pairing must then be the only
    one that matches.
    """
    fields, _ = _fields(spec)
    names = {k: str(fields[k]).strip() for k in HARDWARE_KEYS if k in fields}
    problems = []
    if "hardware" in names and len(names) > 1:
        problems.append(
            "--deployment: hardware names both pools; give it or attention_hardware/ffn_hardware"
        )
    if arch == "ep" and names.get("attention_hardware", names.get("hardware")) != names.get(
        "ffn_hardware", names.get("hardware")
    ):
        problems.append("--deployment: EP runs on one hardware: give hardware=NAME")
    if problems:
        raise InputError(problems)
    want_a = names.get("attention_hardware", names.get("hardware"))
    want_f = names.get("ffn_hardware", names.get("hardware"))
    choices = pairings.pairings(inst, arch)
    match = [p for p in choices if want_a in (None, p[0].name) and want_f in (None, p[1].name)]
    if len(match) == 1:
        return match[0]
    listed = ", ".join(pairings.label(p) for p in choices)
    key = "hardware=NAME" if arch == "ep" else "attention_hardware=NAME,ffn_hardware=NAME"
    if not match:
        raise InputError(
            [f"--deployment: no {arch.upper()} hardware pairing matches {names}; the instance "
             f"allows {listed}"]
        )  # fmt: skip
    raise InputError(
        [f"--deployment: the instance lets {arch.upper()} choose its hardware ({listed}); "
         f"name it with {key}"]
    )  # fmt: skip
