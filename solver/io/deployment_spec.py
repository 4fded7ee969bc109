"""Parse a deployment given on the command line or as a dict (`evaluate --deployment`)."""

from __future__ import annotations

from typing import Any

from formulations.types import ARCHITECTURES, Deployment, Instance
from solver.errors import InputError

DEPLOYMENT_KEYS = {
    "arch": str,
    "architecture": str,
    "attention_nodes": int,
    "ffn_nodes": int,
    "nodes": int,
    "sequences_per_gpu": int,
    "micro_batches": int,
    "redundant_experts": int,
}
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
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        problems.append(f"--deployment: {key} = {value!r} must be an integer")
        return None
    floor = 0 if key == "redundant_experts" else 1
    if not floor <= number <= MAX_COUNT:
        problems.append(
            f"--deployment: {key} = {value} is out of range: must be in [{floor}, {MAX_COUNT}]"
        )
        return None
    return number


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
        attention_units=values.get("attention_nodes") if arch == "afd" else None,
        ffn_units=values.get("ffn_nodes") if arch == "afd" else None,
        units=values.get("nodes") if arch == "ep" else None,
    )
