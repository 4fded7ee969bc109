"""Expert imbalance for the deployment programs: constant, or achieved by the placement program.

With `workload.expert_loads`, every candidate layout (expert ranks P = units x g, replicas R,
G = ceil((E + R) / P) slots per rank) gets the max/mean rank load that the placement program
achieves on those loads (mean over layers, docs/model.md §8, §14.3), so the FFN time of the hottest
rank, the redundant experts (memory) and the node counts are chosen together.
"""

from __future__ import annotations

import math

import numpy as np

from formulations.costs import experts_per_gpu
from formulations.layouts import ImbalanceFn, constant_imbalance
from formulations.types import Instance
from solver.errors import InputError
from solver.io.loads import LoadsError, load_expert_loads
from solver.placement.achieved import achieved_imbalance


def expert_loads(inst: Instance) -> np.ndarray | None:
    """The instance's expert loads (layers, E), or None when it gives a constant imbalance."""
    spec = inst.workload.expert_loads
    if spec is None:
        return None
    try:
        return load_expert_loads(spec, inst.model)
    except LoadsError as exc:
        raise InputError([f"{inst.path or inst.name}: workload.expert_loads: {exc}"]) from None


PLACEMENT_LAYER_S = 0.5
"""Time the placement program gets per layer and layout while the command's budget lasts."""


class PlacementImbalance:
    """Max/mean load of the hottest expert rank as a function of (ranks, replicas), from the
    placement program on the instance's loads, within a wall-time budget.

    Each new (ranks, replicas) pair gets the placement program (cached). Once `deadline` has
    passed, pairs not placed yet are not placed at all: their imbalance is infinite, so their
    layouts drop out of the search, and `skipped` counts them (the answer is then not proven).
    """

    def __init__(
        self, inst: Instance, loads: np.ndarray, backend: str, deadline: float | None
    ) -> None:
        self.model = inst.model
        self.loads = loads
        self.backend = backend
        self.deadline = deadline
        self.skipped = 0
        self.cache: dict[tuple[int, int], float] = {}

    @property
    def cut_short(self) -> bool:
        return self.skipped > 0

    def _place(self, ranks: int, replicas: int) -> float:
        slots = int(experts_per_gpu(self.model, replicas, ranks))
        try:
            return achieved_imbalance(
                self.loads,
                ranks,
                replicas,
                slots,
                backend=self.backend,
                time_limit_s=PLACEMENT_LAYER_S,
                deadline=self.deadline,
            )
        except TimeoutError:
            self.skipped += 1
            return math.inf

    def __call__(self, ranks: np.ndarray, redundant: np.ndarray) -> np.ndarray:
        p, r = np.broadcast_arrays(np.asarray(ranks, dtype=np.int64), np.asarray(redundant))
        out = np.empty(p.shape, dtype=float)
        for idx in np.ndindex(p.shape):
            key = (int(p[idx]), int(r[idx]))
            if key not in self.cache:
                self.cache[key] = self._place(*key)
            out[idx] = self.cache[key]
        return out


def imbalance_fn(
    inst: Instance, backend: str = "highs", deadline: float | None = None
) -> ImbalanceFn:
    """Max/mean load of the hottest expert rank as a function of (ranks, replicas).

    Args:
        deadline: `time.perf_counter()` value after which no new (ranks, replicas) pair is
            placed: its layouts drop out and are counted as skipped (the command's time limit
            bounds the placement work too).
    """
    loads = expert_loads(inst)
    if loads is None:
        return constant_imbalance(inst.workload.expert_imbalance)
    return PlacementImbalance(inst, loads, backend, deadline)


def placement_skipped(fn: ImbalanceFn) -> int:
    """Layouts whose placement the time limit cut (they were not searched)."""
    return int(getattr(fn, "skipped", 0))
