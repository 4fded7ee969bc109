"""Hardware pairings: the (attention, FFN) hardware an architecture may use (docs/model.md §17).

An instance fixes one pairing (`hardware`, `ffn_hardware`) or lists candidates
(`hardware_choices`, every (attention, FFN) pair of the scenario's two lists). AFD may put its
two pools on any listed pairing; EP has one pool, so it runs on one hardware at a time, any of
the hardware named on either side. The pairing is a discrete choice outside the integer
programs: each branch is an ordinary single-pairing instance (`on`), optimised on its own, and
the best branch is the optimum (exact: the branches partition the choices).
"""

from __future__ import annotations

from formulations import archspec
from formulations.types import Hardware, Instance

Pairing = tuple[Hardware, Hardware]
"""(attention pool hardware, FFN pool hardware); EP: the same hardware twice."""


def pairings(inst: Instance, architecture: str) -> tuple[Pairing, ...]:
    """Every pairing `architecture` may use on `inst`, in the scenario's order.

    An architecture with its own expert pool (AFD): the listed (attention, FFN) pairs, or the
    instance's fixed pairing. Others (EP): each distinct hardware named on either side, attention
    side first (one hardware for every GPU).
    """
    pairs = inst.hardware_choices or ((inst.hardware, inst.ffn_hardware or inst.hardware),)
    if archspec.get(architecture).own_ffn_hardware:
        return tuple(pairs)
    seen = dict.fromkeys([a for a, _ in pairs] + [f for _, f in pairs])
    return tuple((h, h) for h in seen)


def on(inst: Instance, attention: Hardware, ffn: Hardware) -> Instance:
    """`inst` fixed to one pairing (no candidate lists left): one branch of the choice."""
    return inst.replace(
        hardware=attention, ffn_hardware=None if ffn == attention else ffn, hardware_choices=()
    )


def names(pair: Pairing) -> tuple[str, str]:
    """(attention hardware name, FFN hardware name) of a pairing."""
    return pair[0].name, pair[1].name


def label(pair: Pairing) -> str:
    """`h20+h800` for a mixed pairing, `h800` for one hardware (file names, notes)."""
    a, f = names(pair)
    return a if pair[0] == pair[1] else f"{a}+{f}"


def find(inst: Instance, architecture: str, attention: str, ffn: str) -> Pairing | None:
    """The pairing of `architecture` with these hardware names, or None."""
    for pair in pairings(inst, architecture):
        if names(pair) == (attention, ffn):
            return pair
    return None


def is_choice(inst: Instance, architecture: str) -> bool:
    """True when `architecture` has more than one pairing to choose from."""
    return len(pairings(inst, architecture)) > 1
