"""Branches: the discrete choices made outside the integer programs (docs/model.md §17.4, §20.1).

A branch fixes the hardware pairing and the unit size: every architecture branches on its
pairings (formulations.pairings); TP also on its group size t (`unit_sizes` of its module).
Each branch is an ordinary instance with one pairing and `search.unit_gpus` set to the unit
size, optimised on its own; the best branch by formulations.order is the optimum (exact: the
branches partition the choices).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from formulations import architectures, archspec, families, pairings
from formulations.types import Instance


@dataclass(frozen=True)
class Branch:
    pairing: pairings.Pairing
    unit_gpus: int


def of(inst: Instance, architecture: str) -> tuple[Branch, ...]:
    """Every branch of `architecture` on `inst`: pairings in the scenario's order, each with
    its unit sizes in increasing order."""
    module = architectures.get(architecture)
    return tuple(
        Branch(pair, size)
        for pair in pairings.pairings(inst, architecture)
        for size in module.unit_sizes(pairings.on(inst, *pair))
    )


def on(inst: Instance, branch: Branch) -> Instance:
    """`inst` fixed to one branch."""
    one = pairings.on(inst, *branch.pairing)
    if one.search.unit_gpus == branch.unit_gpus:
        return one
    return one.replace(search=dataclasses.replace(one.search, unit_gpus=branch.unit_gpus))


def label(branch: Branch, architecture: str) -> str:
    """`h800`, `h20+h800`, and ` t=8` where the architecture sizes its unit."""
    text = pairings.label(branch.pairing)
    if archspec.get(architecture).unit_gpus_field:
        text += f" t={branch.unit_gpus}"
    return text


def joined_reasons(architecture: str, reasons: Sequence[tuple[Branch, str]]) -> str:
    """Each branch's reason, labelled, joined by '; '. Where one pairing has several unit
    sizes, only its largest keeps the full sentences; the smaller ones name the families that
    fail (each full reason is a few hundred characters: one line must stay readable)."""
    largest = {b.pairing: i for i, (b, _) in enumerate(reasons)}
    names = [f.name for f in families.of(architecture)]
    parts = []
    for i, (b, reason) in enumerate(reasons):
        failing = [n for n in names if f"{n}: " in reason]
        if largest[b.pairing] != i and failing:
            reason = "fails " + ", ".join(failing)
        parts.append(f"{label(b, architecture)}: {reason}")
    return "; ".join(parts)
