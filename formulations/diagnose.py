"""Say, in words and numbers, why an architecture has no feasible deployment (docs/model.md §10).

Every constraint family grows with its batch quantity, so a family that fails at the smallest
batch the search allows on every layout makes the instance infeasible on its own. It is named
on its most favourable layout, the one where it comes closest to holding (smallest quantity over
limit), with the figures that break it there. When every family holds on some layout but no
layout satisfies all of them at once, the message lists the families that clash.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from formulations import architectures, archspec, families
from formulations.costs import CostModel
from formulations.layouts import ImbalanceFn, Layouts, constant_imbalance, with_caps
from formulations.types import Instance

GB = 1e9


def _amount(value: float, unit: str) -> str:
    if not math.isfinite(value):
        return "an unbounded amount" if value > 0 else "nothing"
    return f"{value / GB:.1f} GB" if unit == "bytes" else f"{value * 1e6:.1f} us"


def _layout_text(lay: Layouts, c: int, serving: int) -> str:
    nbo = lay.micro_batches
    pools = archspec.get(lay.architecture).pools
    # The serving pool's units, then the expert-only pool's (the layout's other units).
    units = [serving, *[int(lay.ffn_units[c])] * (len(pools) - 1)]
    where = ", ".join(f"{p.symbol} = {u}" for p, u in zip(pools, units, strict=True))
    return f"{where}, R = {int(lay.redundant[c])}, {nbo} micro-batches"


def _budget_reason(inst: Instance) -> str | None:
    w = inst.workload
    step_ms = w.tpot_ms * w.mtp_acceptance
    if step_ms > w.step_gap_ms:
        return None
    return (
        f"latency budget: tpot_ms x mtp_acceptance = {step_ms:.4g} ms per step leaves no time "
        f"after step_gap_ms = {w.step_gap_ms:g} ms"
    )


def _minimum(lay: Layouts, batch: str) -> np.ndarray:
    """The smallest value of a batch quantity any deployment of each layout has."""
    micro, seqs = lay.micro_lo, lay.sequences.lo
    lo = lay.serving_lo.astype(np.int64)
    return {
        "micro_batch": np.full(len(lay), micro, dtype=np.int64),
        "sequences": np.full(len(lay), seqs, dtype=np.int64),
        "pool_micro": lo * micro,
        "pool_sequences": lo * seqs,
    }[batch]


def _family_reason(
    cm: CostModel, arch: object, lay: Layouts, fam: families.Family, budget_s: float
) -> str | None:
    """The reason `fam` fails on every layout of `lay`, or None when some layout satisfies it."""
    need = _minimum(lay, fam.batch)
    if (lay.caps[fam.name] >= need).any():
        return None
    value = arch.family_quantity(cm, lay, fam, need)  # type: ignore[attr-defined]
    limit = budget_s if fam.kind == "time" else cm.usable_bytes(fam.side)
    c = int(np.argmin(np.asarray(value, dtype=float) / limit))
    first = _minimum(lay, "sequences")[c]
    against = "the stage budget" if fam.kind == "time" else "usable HBM per GPU"
    return (
        f"{fam.name}: {fam.what} needs {_amount(float(value[c]), fam.unit)} against "
        f"{_amount(limit, fam.unit)} of {against}, even on the most favourable layout "
        f"({_layout_text(lay, c, int(lay.serving_lo[c]))}, {int(first)} sequence(s) per GPU), "
        f"fix: {fam.fix}"
    )


def diagnose(inst: Instance, arch_name: str, imbalance: ImbalanceFn | None = None) -> str:
    """One sentence (or a few, joined by '; ') saying why `arch_name` has no feasible deployment."""
    budget = _budget_reason(inst)
    if budget:
        return budget
    arch = architectures.get(arch_name)
    cm = CostModel.of(inst, arch_name)
    imbalance = imbalance or constant_imbalance(inst.workload.expert_imbalance)
    s = inst.search
    quantity = functools.partial(arch.family_quantity, cm)
    reasons: list[str] = []
    clash: list[str] = []
    any_layout = False
    for nbo in getattr(s, arch.MICRO_BATCHES_FIELD).values():
        lay = arch.layouts(cm, nbo, s, imbalance)
        lay = lay.take(lay.serving_lo <= lay.serving_hi)
        if len(lay) == 0:
            continue
        any_layout = True
        budget_s = float(cm.stage_budget_s(nbo))
        lay = with_caps(lay, quantity, "memory", 0.0, cm.usable_bytes)
        lay = with_caps(lay, quantity, "time", budget_s, cm.usable_bytes)
        for fam in families.of(arch_name):
            reason = _family_reason(cm, arch, lay, fam, budget_s)
            if reason:
                reasons.append(reason)
            elif (lay.caps[fam.name] < _minimum(lay, fam.batch)).any():
                clash.append(fam.name)
        if lay.viable().any():
            return _demand_reason(inst)
    if not any_layout:
        return _no_layout_reason(inst, arch_name)
    if reasons:
        return "; ".join(dict.fromkeys(reasons))
    return (
        f"no {arch_name.upper()} layout satisfies "
        + " and ".join(dict.fromkeys(clash))
        + f" together at {s.sequences_per_gpu.lo} sequence(s) per GPU"
    )


def _no_layout_reason(inst: Instance, arch: str) -> str:
    s = inst.search
    if s.max_gpus is not None:
        return (
            f"search: max_gpus = {s.max_gpus} leaves no {arch.upper()} deployment "
            "within the node limits"
        )
    if s.experts_per_gpu is not None:
        rng = s.experts_per_gpu
        return f"search: no {arch.upper()} layout has experts_per_gpu in [{rng.lo}, {rng.hi}]"
    return f"search: the node limits leave no {arch.upper()} layout (superpod domain too small?)"


def _demand_reason(inst: Instance) -> str:
    if inst.search.objective == "min_gpus":
        return (
            f"demand: {inst.workload.demand_tokens_per_s:g} tokens/s is more than any deployment "
            "within the node limits serves at its own pace; raise the node limits"
        )
    return "no deployment satisfies all constraints together"
