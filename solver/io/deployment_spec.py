"""Parse a deployment given on the command line or as a dict (`evaluate --deployment`)."""

from __future__ import annotations

from typing import Any

from formulations import architectures, archspec, pairings
from formulations.types import ARCHITECTURES, Deployment, Hardware, Instance
from solver.errors import InputError
from solver.io import numbers
from solver.io.numbers import show

DEPLOYMENT_KEYS = {
    "arch": str,
    "architecture": str,
    **dict.fromkeys(archspec.POOL_COLUMNS, int),
    **{s.unit_gpus_field: int for s in archspec.SPECS.values() if s.unit_gpus_field},
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
    s.name: (*s.columns, *filter(None, [s.unit_gpus_field]), "sequences_per_gpu")
    for s in archspec.SPECS.values()
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


POOLS = {s.name: tuple(p.name for p in s.pools) for s in archspec.SPECS.values()}
"""The pools of each architecture's `Deployment.nodes`, in order, and their spec keys."""
POOL_KEYS = {p.name: p.column for s in archspec.SPECS.values() for p in s.pools}


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
        raise InputError([f"{where}.nodes = {show(nodes)}: {archspec.label(arch)} needs ({want},)"])
    sized = archspec.get(arch).unit_gpus_field  # TP: the group size is the deployment's own
    if sized is None and d.unit_gpus is not None and d.unit_gpus != unit_gpus:
        raise InputError(
            [f"{where}.unit_gpus = {show(d.unit_gpus)}: the instance's search.unit_gpus is "
             f"{unit_gpus}; leave it None"]
        )  # fmt: skip
    if sized is not None and d.unit_gpus is None:
        raise InputError([f"{where}.unit_gpus: required for {archspec.label(arch)} (its {sized})"])
    spec: dict[str, Any] = {"arch": arch}
    spec.update({POOL_KEYS[p]: units for p, units in nodes or ()})
    if sized is not None:
        spec[sized] = d.unit_gpus
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
        arch_spec = archspec.get(arch)
        nbo = values.get("micro_batches")
        if nbo is not None and nbo < arch_spec.min_micro_batches:
            problems.append(
                f"--deployment: micro_batches must be >= {arch_spec.min_micro_batches} for "
                f"{arch_spec.label} (search.{arch_spec.micro_batches_field})"
            )
        other = [
            k for k in DEPLOYMENT_KEYS if DEPLOYMENT_KEYS[k] is int and k not in REQUIRED[arch]
        ]
        problems += [
            f"--deployment: {k}: not a field of arch={arch}"
            for k in other
            if k in fields and k not in ("micro_batches", "redundant_experts")
        ]
    if problems:
        raise InputError(problems)
    s = inst.search
    arch_spec = archspec.get(str(arch))
    return Deployment(
        architecture=arch_spec.name,
        sequences_per_gpu=values["sequences_per_gpu"],
        micro_batches=int(
            values.get("micro_batches", getattr(s, arch_spec.micro_batches_field).lo)
        ),
        # Without expert ranks (TP) there is nothing to replicate: the search's R is not its.
        redundant=values.get(
            "redundant_experts", s.redundant_experts.lo if arch_spec.expert_ranks else 0
        ),
        **archspec.deployment_fields({"architecture": arch_spec.name, **values}),
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
    own_ffn = archspec.get(arch).own_ffn_hardware
    if not own_ffn and names.get("attention_hardware", names.get("hardware")) != names.get(
        "ffn_hardware", names.get("hardware")
    ):
        problems.append(
            f"--deployment: {archspec.label(arch)} runs on one hardware: give hardware=NAME"
        )
    if problems:
        raise InputError(problems)
    want_a = names.get("attention_hardware", names.get("hardware"))
    want_f = names.get("ffn_hardware", names.get("hardware"))
    choices = pairings.pairings(inst, arch)
    match = [p for p in choices if want_a in (None, p[0].name) and want_f in (None, p[1].name)]
    if len(match) == 1:
        return match[0]
    listed = ", ".join(pairings.label(p) for p in choices)
    key = "attention_hardware=NAME,ffn_hardware=NAME" if own_ffn else "hardware=NAME"
    if not match:
        raise InputError(
            [f"--deployment: no {archspec.label(arch)} hardware pairing matches {names}; the "
             f"instance allows {listed}"]
        )  # fmt: skip
    raise InputError(
        [f"--deployment: the instance lets {archspec.label(arch)} choose its hardware ({listed}); "
         f"name it with {key}"]
    )  # fmt: skip


def deployment_on_pairing(
    spec: str | dict[str, Any], inst: Instance
) -> tuple[Instance, Deployment]:
    """Deployment `spec` and the instance fixed to its hardware pairing, checked by its
    architecture there (TP: an allowed group size, no redundant experts)."""
    d = parse_deployment(spec, inst)
    on = pairings.on(inst, *deployment_pairing(spec, inst, d.architecture))
    if problems := architectures.get(d.architecture).deployment_problems(on, d):
        raise InputError([f"--deployment: {p}" for p in problems])
    return on, d
