"""Which constraint binds at an optimum (docs/model.md §9: the regime).

A deployment is blocked where growing it would break something: one more sequence per GPU
(n + 1) and, when the serving units are free (AFD), one more attention unit. The families those
steps would violate bind; a step that leaves the search space names the search limit instead.
Families are refined into the physical resource (compute, HBM bandwidth, HBM capacity,
scale-out, scale-up).
"""

from __future__ import annotations

import dataclasses

from formulations import architectures, archspec, families
from formulations import metrics as met
from formulations.costs import CostModel
from formulations.types import Deployment, Instance, Search


def _blocked_by(cm: CostModel, d: Deployment, eps: float) -> list[str]:
    m = met.metrics(cm, d, eps)
    return [met.resource(cm, d, family, eps) for family in m.violated]


def _pace(cm: CostModel, d: Deployment, eps: float) -> str:
    """The family whose stage sets the deployment's pace, as a resource."""
    arch = architectures.get(d.architecture)
    s = arch.deployment_stages(cm, d, eps)
    times = {
        f.name: float(getattr(s, f.field)) for f in families.of(d.architecture) if f.kind == "time"
    }
    slowest = max(times, key=lambda k: times[k])
    return "pace:" + met.resource(cm, d, slowest, eps)


def binding_of(inst: Instance, d: Deployment, eps: float = 1.0) -> list[str]:
    """What stops deployment `d` of `inst` from growing, with the time families judged at its
    own stage (docs/model.md §9.4): the target set to its own TPOT; at the target itself for
    the objective counted there. Every command (solve, evaluate, pareto) asks this, so one
    deployment has one binding."""
    cm = CostModel.for_deployment(inst, d)
    if inst.search.objective != "tokens_per_gpu_at_target":
        tpot_ms = met.metrics(cm, d, eps).tpot_ms * (1 + 1e-9)
        own = inst.replace(workload=dataclasses.replace(inst.workload, tpot_ms=tpot_ms))
        cm = CostModel.for_deployment(own, d)
    return binding(cm, d, inst.search, eps)


def binding(cm: CostModel, d: Deployment, search: Search, eps: float = 1.0) -> list[str]:
    """Resources (or search limits) that stop `d` from growing, most specific first."""
    found: list[str] = []
    fits = False
    n = d.sequences_per_gpu
    step = 1 if n % d.micro_batches else d.micro_batches
    if n + step > search.sequences_per_gpu.hi:
        found.append("search:sequences_per_gpu")
    else:
        blocked = _blocked_by(cm, dataclasses.replace(d, sequences_per_gpu=n + step), eps)
        found += blocked
        fits |= not blocked
    serving = archspec.get(d.architecture).serving
    if archspec.get(d.architecture).free_serving:  # the serving units are a decision (AFD)
        grown = d.with_pool(serving.name, d.serving_units + 1)
        if grown.serving_units > getattr(search, serving.search_field).hi:
            found.append(f"search:{serving.search_field}")
        elif search.max_gpus is not None and grown.gpus(cm.unit_gpus) > search.max_gpus:
            found.append("search:max_gpus")
        else:
            blocked = _blocked_by(cm, grown, eps)
            found += blocked
            fits |= not blocked
    if fits:
        found.append(_pace(cm, d, eps))
    return list(dict.fromkeys(found))
