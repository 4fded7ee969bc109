"""Optimise one architecture of one instance: check -> build -> solve -> extract.

The same pipeline serves every architecture (formulations.architectures): layouts with their
memory caps are built once, then the objective's scheme runs the integer programs level by level
(solver.levels, docs/model.md §12): own-pace tokens/s per GPU or in all, the fewest GPUs meeting
a demand at own pace, or tokens/s per GPU counted at the TPOT target. The enumeration backend
bypasses all of that and walks the grid (solver.enumerate).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from formulations import architectures
from formulations.diagnose import diagnose
from formulations.layouts import ImbalanceFn, Layouts, layout_eps, real_caps
from formulations.metrics import metrics
from formulations.program import IntegerProgram
from formulations.relaxation import continuous_optimum
from formulations.types import Deployment, Instance
from solver import enumerate as brute
from solver import levels
from solver.backends import Status, make_backend
from solver.imbalance import imbalance_fn, placement_skipped

PLACEMENT_SHARE = 0.5
"""Share of an optimisation's time the expert placements behind its layouts may use."""


@dataclass(frozen=True)
class Outcome:
    """The result of optimising one architecture."""

    architecture: str
    status: Status
    deployment: Deployment | None
    objective: float | None
    """In natural units: tokens/s/GPU, tokens/s, or GPUs."""
    gap: float | None
    discrete_penalty: float | None
    solve_s: float
    backend: str
    reason: str = ""
    eps: float = 1.0
    """Max/mean expert load of the chosen layout's hottest rank."""
    levels: int = 0
    """TPOT levels the scheme solved."""
    programs: int = 0
    """Integer programs solved."""
    notes: tuple[str, ...] = ()
    """What the time limit cut short, for the user (e.g. placements at their heuristic)."""


def budget_nonpositive(inst: Instance, arch: str) -> bool:
    """True when even a zero-length stage misses the TPOT target (the gap eats the step)."""
    w = inst.workload
    return w.tpot_ms * w.mtp_acceptance <= w.step_gap_ms


def _gap(value: float, bound: float | None, minimise: bool) -> float | None:
    if bound is None or not np.isfinite(bound):
        return None
    if minimise:
        return max(0.0, (value - bound) / max(abs(value), 1e-12))
    return max(0.0, (bound - value) / max(abs(bound), 1e-12))


def discrete_penalty(ctx: levels.Context, d: Deployment) -> float | None:
    """1 - integer optimum / optimum with fractional serving units, at the optimum's own TPOT
    (the integer optimum is an at-budget optimum there, docs/model.md §8 and §12). EP: 0."""
    if ctx.arch.NAME != "afd":
        return 0.0
    s = ctx.inst.search
    eps = layout_eps(ctx.imbalance, d, s.unit_gpus)
    m = metrics(ctx.cm, d, eps)
    tpot_s = ctx.inst.workload.tpot_ms * 1e-3
    if s.objective != "tokens_per_gpu_at_target":
        tpot_s = m.tpot_ms * 1e-3 * (1 + 1e-12)
    slots = d.serving_units * d.sequences_per_gpu
    units = d.total_units
    quantity = functools.partial(ctx.arch.family_quantity, ctx.cm)
    usable = ctx.cm.usable_bytes

    def relaxed(lay: Layouts, kind: str, need: float | None = None) -> float | None:
        assert lay.budget_s is not None
        pool = tuple(
            real_caps(lay, quantity, lay.budget_s, usable, b)
            for b in ("pool_micro", "pool_sequences")
        )
        return continuous_optimum(lay, kind, pool, need)  # type: ignore[arg-type]

    if s.objective == "min_gpus":
        demand = ctx.inst.workload.demand_tokens_per_s or 0.0
        need = demand * tpot_s / (ctx.sigma * s.unit_gpus)
        values = [relaxed(lay, "min_units", need) for lay in ctx.level(tpot_s)]
        best = min((v for v in values if v is not None), default=None)
        return None if best is None else max(0.0, 1.0 - best / units)
    kind = "total" if s.objective == "total_tokens" else "ratio"
    values = [relaxed(lay, kind) for lay in ctx.level(tpot_s)]
    best = max((v for v in values if v is not None), default=None)
    mine = slots if kind == "total" else slots / units
    return None if not best else max(0.0, 1.0 - mine / best)


def optimize(
    inst: Instance,
    arch: str,
    backend_name: str | None = None,
    imbalance: ImbalanceFn | None = None,
    deadline: float | None = None,
    warm_start: bool = True,
    proofs: list[tuple[str, IntegerProgram, float]] | None = None,
    on_level: Callable[[int, float], None] | None = None,
) -> Outcome:
    """Optimise `arch` of `inst` with `backend_name` (default: the instance's).

    Args:
        deadline: `time.perf_counter()` value to stop at (default: now + search.time_limit_s).
        warm_start: start the programs from the layouts' hull vertices (False: tests check
            that the programs alone reach the optimum).
        proofs: when given, receives every certificate program (label, program, optimum) for
            `--export`.
        on_level: progress, called before each TPOT level with (level, TPOT level in s).
    """
    t0 = time.perf_counter()
    name = backend_name or inst.search.backend
    deadline = t0 + inst.search.time_limit_s if deadline is None else deadline
    # Placement (with expert loads) may take part of the time, the programs need the rest.
    imbalance = imbalance or imbalance_fn(inst, deadline=t0 + PLACEMENT_SHARE * (deadline - t0))
    empty = Outcome(arch, Status.INFEASIBLE, None, None, None, None, 0.0, name)
    if budget_nonpositive(inst, arch):
        return dataclasses.replace(empty, reason=diagnose(inst, arch, imbalance))
    if name == "enumerate":
        return _from_enumeration(inst, arch, t0, imbalance, deadline)
    module = architectures.get(arch)
    ctx = levels.Context.of(inst, module, imbalance, make_backend(name), deadline)
    ctx.warm_start = warm_start
    ctx.proofs = proofs
    ctx.on_level = on_level
    objective = inst.search.objective
    if objective == "tokens_per_gpu":
        found = levels.descend(ctx, total=False)
    elif objective == "total_tokens":
        found = levels.descend(ctx, total=True)
    elif objective == "min_gpus":
        found = levels.fewest_gpus(ctx, float(inst.workload.demand_tokens_per_s or 0.0))
    else:
        found = levels.at_target(ctx)
    empty = dataclasses.replace(empty, levels=ctx.levels, programs=ctx.programs)
    elapsed = time.perf_counter() - t0
    skipped = placement_skipped(imbalance)
    notes: tuple[str, ...] = ()
    if skipped:
        # Layouts without a placement were not searched: nothing is proven beyond them.
        found = dataclasses.replace(found, proven=False, bound=None)
        notes = (f"{skipped} layouts not searched: their expert placement ran out of time",)
    if found.incumbent is None:
        if found.proven:
            reason = diagnose(inst, arch, imbalance)
            return dataclasses.replace(empty, solve_s=elapsed, reason=reason)
        status = Status.ERROR if Status.ERROR in ctx.statuses else Status.TIME_LIMIT
        reason = "no feasible deployment found within the time limit"
        if status == Status.ERROR:
            said = "; ".join(dict.fromkeys(ctx.messages)) or "no message"
            reason = f"a solver failed: {said}"
        reason = "; ".join((reason, *notes))
        return dataclasses.replace(empty, status=status, solve_s=elapsed, reason=reason)
    value, d = found.incumbent
    minimise = objective == "min_gpus"
    natural = -value if minimise else value
    bound = None if found.bound is None else (-found.bound if minimise else found.bound)
    return Outcome(
        arch,
        Status.OPTIMAL if found.proven else Status.FEASIBLE,
        d,
        natural,
        0.0 if found.proven else _gap(natural, bound, minimise),
        discrete_penalty(ctx, d),
        time.perf_counter() - t0,
        name,
        eps=layout_eps(imbalance, d, inst.search.unit_gpus),
        levels=ctx.levels,
        programs=ctx.programs,
        notes=notes,
    )


def _from_enumeration(
    inst: Instance, arch: str, t0: float, imbalance: ImbalanceFn, deadline: float
) -> Outcome:
    found = brute.enumerate_best(inst, arch, imbalance, max(deadline - time.perf_counter(), 0.0))
    elapsed = time.perf_counter() - t0
    status = Status.OPTIMAL if found.complete else Status.FEASIBLE
    if found.deployment is None:
        if found.complete:
            reason = diagnose(inst, arch, imbalance)
            return Outcome(
                arch, Status.INFEASIBLE, None, None, None, None, elapsed, "enumerate", reason
            )
        reason = "no feasible deployment found within the time limit"
        return Outcome(
            arch, Status.TIME_LIMIT, None, None, None, None, elapsed, "enumerate", reason
        )
    penalty = None
    if arch == "ep":
        penalty = 0.0
    return Outcome(
        arch,
        status,
        found.deployment,
        found.objective,
        0.0 if found.complete else None,
        penalty,
        elapsed,
        "enumerate",
        eps=layout_eps(imbalance, found.deployment, inst.search.unit_gpus),
    )
