"""Expert imbalance for the deployment programs: constant, or achieved by the placement program.

With `workload.expert_loads`, every candidate layout (expert ranks P = units x g, replicas R,
G = ceil((E + R) / P) slots per rank) gets the max/mean rank load that the placement program
achieves on those loads (mean over layers, MODEL.md sections 6-7), so the FFN time of the hottest
rank, the redundant experts (memory) and the node counts are chosen together.
"""

from __future__ import annotations

import numpy as np

from formulations.costs import experts_per_gpu
from formulations.layouts import ImbalanceFn, constant_imbalance
from formulations.types import Instance
from solver.errors import InputError
from solver.io.loads import LoadsError, load_expert_loads
from solver.placement.place import achieved_imbalance


def expert_loads(inst: Instance) -> np.ndarray | None:
    """The instance's expert loads (layers, E), or None when it gives a constant imbalance."""
    spec = inst.workload.expert_loads
    if spec is None:
        return None
    try:
        return load_expert_loads(spec, inst.model)
    except LoadsError as exc:
        raise InputError([f"{inst.path or inst.name}: workload.expert_loads: {exc}"]) from None


def imbalance_fn(inst: Instance, backend: str = "highs") -> ImbalanceFn:
    """Max/mean load of the hottest expert rank as a function of (ranks, replicas)."""
    loads = expert_loads(inst)
    if loads is None:
        return constant_imbalance(inst.workload.expert_imbalance)
    model = inst.model
    cache: dict[tuple[int, int], float] = {}

    def fn(ranks: np.ndarray, redundant: np.ndarray) -> np.ndarray:
        p, r = np.broadcast_arrays(np.asarray(ranks, dtype=np.int64), np.asarray(redundant))
        out = np.empty(p.shape, dtype=float)
        for idx in np.ndindex(p.shape):
            key = (int(p[idx]), int(r[idx]))
            if key not in cache:
                slots = int(experts_per_gpu(model, key[1], key[0]))
                cache[key] = achieved_imbalance(loads, key[0], key[1], slots, backend=backend)
            out[idx] = cache[key]
        return out

    return fn
