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
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from formulations import architectures, archspec, branches, order
from formulations.deadline import Expired
from formulations.diagnose import diagnose
from formulations.layouts import ImbalanceFn, Layouts, layout_eps, real_caps
from formulations.metrics import metrics
from formulations.program import IntegerProgram
from formulations.relaxation import continuous_optimum
from formulations.types import ORACLE_BACKEND, Deployment, Hardware, Instance
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
    pairing: tuple[Hardware, Hardware] | None = None
    """(attention, FFN) hardware of the deployment (EP: one hardware twice); None without one."""
    branches: tuple[tuple[str, str, float | None], ...] = ()
    """With several pairings to choose from: (pairing label, status, objective) of each."""


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
    if not archspec.get(ctx.arch.NAME).free_serving:
        return 0.0  # no fractional serving units to relax
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
        need = demand * tpot_s / (ctx.sigma * ctx.cm.unit_ranks)  # in serving units x n
        values = [relaxed(lay, "min_units", need) for lay in ctx.level(tpot_s)]
        best = min((v for v in values if v is not None), default=None)
        return None if best is None else max(0.0, 1.0 - best / units)
    kind = "total" if s.objective == "total_tokens" else "ratio"
    values = [relaxed(lay, kind) for lay in ctx.level(tpot_s)]
    best = max((v for v in values if v is not None), default=None)
    mine = slots if kind == "total" else slots / units
    return None if not best else max(0.0, 1.0 - mine / best)


def _penalty_in_time(ctx: levels.Context, d: Deployment) -> float | None:
    """`discrete_penalty`, or None when the time is up (it re-solves every layout's caps)."""
    try:
        return discrete_penalty(ctx, d)
    except Expired:
        return None


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

    With several hardware pairings to choose from (docs/model.md §17) each pairing is optimised
    in turn, sharing the time limit, and the best is kept: the pairing is a discrete choice
    outside the programs, one program chain per branch. The enumeration backend walks the
    pairings itself (solver.enumerate).

    Args:
        deadline: `time.perf_counter()` value to stop at (default: now + search.time_limit_s).
        warm_start: start the programs from the layouts' hull vertices (False: tests check
            that the programs alone reach the optimum).
        proofs: when given, receives every certificate program (label, program, optimum) for
            `--export`; with several pairings each label starts with its pairing.
        on_level: progress, called before each TPOT level with (level, TPOT level in s).
    """
    t0 = time.perf_counter()
    name = backend_name or inst.search.backend
    deadline = t0 + inst.search.time_limit_s if deadline is None else deadline
    # Placement (with expert loads) may take part of the time, the programs need the rest; the
    # imbalance does not depend on the hardware, so every pairing shares one.
    imbalance = imbalance or imbalance_fn(inst, deadline=t0 + PLACEMENT_SHARE * (deadline - t0))
    if name == ORACLE_BACKEND:
        if budget_nonpositive(inst, arch):
            reason = diagnose(inst, arch, imbalance)
            return Outcome(arch, Status.INFEASIBLE, None, None, None, None, 0.0, name, reason)
        return _from_enumeration(inst, arch, t0, imbalance, deadline)
    choices = branches.of(inst, arch)
    if not choices:
        return Outcome(
            arch, Status.INFEASIBLE, None, None, None, None, 0.0, name, _no_sizes(inst, arch)
        )
    if len(choices) == 1:
        out = _optimize_one(
            branches.on(inst, choices[0]),
            arch,
            name,
            imbalance,
            deadline,
            warm_start,
            proofs,
            on_level,
        )
        return (
            out if out.deployment is None else dataclasses.replace(out, pairing=choices[0].pairing)
        )
    outs = []
    for i, branch in enumerate(choices):
        now = time.perf_counter()
        mine = now + (deadline - now) / (len(choices) - i)
        kept: list[tuple[str, IntegerProgram, float]] | None = None if proofs is None else []
        one = branches.on(inst, branch)
        out = _optimize_one(one, arch, name, imbalance, mine, warm_start, kept, on_level)
        if proofs is not None and kept:
            label = branches.label(branch, arch)
            proofs.extend((f"{label}.{lab}", p, v) for lab, p, v in kept)
        outs.append((branch, out))
    return _best_branch(
        arch, name, inst.search.objective == "min_gpus", outs, t0, inst.search.unit_gpus
    )


def _no_sizes(inst: Instance, arch: str) -> str:
    """Why an architecture that sizes its own unit has no size to try (docs/model.md §20.1)."""
    spec = archspec.get(arch)
    field = spec.unit_gpus_field or "unit_gpus"
    rng = getattr(inst.search, field)
    return (
        f"search:{field}: no {spec.label} size in [{rng.lo}, {rng.hi}] splits the model's "
        f"heads, KV heads and expert width within one scale-up domain "
        f"({inst.hardware.scaleup_domain_gpus} GPUs, docs/model.md §20.1)"
    )


def _bound(out: Outcome, minimise: bool) -> float | None:
    """The best objective a branch could still hold (its value when proven; None: unknown)."""
    if out.status == Status.INFEASIBLE:
        return -math.inf if not minimise else math.inf
    if out.objective is None or out.gap is None:
        return None
    if minimise:
        return out.objective * (1.0 - out.gap)
    return out.objective / max(1.0 - out.gap, 1e-12)


def _best_branch(
    arch: str,
    name: str,
    minimise: bool,
    outs: list[tuple[branches.Branch, Outcome]],
    t0: float,
    unit_gpus: int,
) -> Outcome:
    """The best branch's outcome; optimal only when every branch was settled (§17.4)."""
    tried = tuple((branches.label(b, arch), str(out.status), out.objective) for b, out in outs)
    levels_done = sum(out.levels for _, out in outs)
    programs = sum(out.programs for _, out in outs)
    elapsed = time.perf_counter() - t0
    found = [(pair, out) for pair, out in outs if out.deployment is not None]
    settled = all(out.status in (Status.OPTIMAL, Status.INFEASIBLE) for _, out in outs)
    notes = tuple(
        dict.fromkeys(f"{branches.label(b, arch)}: {n}" for b, out in outs for n in out.notes)
    )
    if not found:
        statuses = [out.status for _, out in outs]
        status = Status.INFEASIBLE
        if not settled:
            status = Status.ERROR if Status.ERROR in statuses else Status.TIME_LIMIT
        reason = branches.joined_reasons(arch, [(b, out.reason) for b, out in outs])
        empty = Outcome(arch, status, None, None, None, None, elapsed, name, reason)
        return dataclasses.replace(
            empty, levels=levels_done, programs=programs, notes=notes, branches=tried
        )
    pair, best = found[0]
    for other_pair, other in found[1:]:  # ties: the smaller deployment, then the first listed
        assert other.deployment is not None and best.deployment is not None
        if order.better(
            float(other.objective or 0.0),
            other.deployment,
            float(best.objective or 0.0),
            best.deployment,
            unit_gpus,
            maximize=not minimise,
        ):
            pair, best = other_pair, other
    assert best.objective is not None
    bounds = [_bound(out, minimise) for _, out in outs]
    gap: float | None = 0.0
    if not settled:
        known = [b for b in bounds if b is not None]
        top = (min(known) if minimise else max(known)) if len(known) == len(bounds) else None
        gap = None if top is None else _gap(best.objective, top, minimise)
    return dataclasses.replace(
        best,
        status=Status.OPTIMAL if settled else Status.FEASIBLE,
        gap=gap,
        solve_s=elapsed,
        levels=levels_done,
        programs=programs,
        notes=notes,
        pairing=pair.pairing,
        branches=tried,
    )


def _optimize_one(
    inst: Instance,
    arch: str,
    backend_name: str | None = None,
    imbalance: ImbalanceFn | None = None,
    deadline: float | None = None,
    warm_start: bool = True,
    proofs: list[tuple[str, IntegerProgram, float]] | None = None,
    on_level: Callable[[int, float], None] | None = None,
) -> Outcome:
    """`optimize` on an instance with one hardware pairing (one branch)."""
    t0 = time.perf_counter()
    name = backend_name or inst.search.backend
    deadline = t0 + inst.search.time_limit_s if deadline is None else deadline
    # Placement (with expert loads) may take part of the time, the programs need the rest.
    imbalance = imbalance or imbalance_fn(inst, deadline=t0 + PLACEMENT_SHARE * (deadline - t0))
    empty = Outcome(arch, Status.INFEASIBLE, None, None, None, None, 0.0, name)
    if budget_nonpositive(inst, arch):
        return dataclasses.replace(empty, reason=diagnose(inst, arch, imbalance))
    module = architectures.get(arch)
    try:
        ctx = levels.Context.of(inst, module, imbalance, make_backend(name), deadline)
    except Expired:  # the layouts alone took the time
        reason = "no feasible deployment found within the time limit (building the layouts)"
        elapsed = time.perf_counter() - t0
        return dataclasses.replace(empty, status=Status.TIME_LIMIT, solve_s=elapsed, reason=reason)
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
        _penalty_in_time(ctx, d),
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
            reason = _diagnose_all(inst, arch, imbalance)
            return Outcome(
                arch, Status.INFEASIBLE, None, None, None, None, elapsed, ORACLE_BACKEND, reason
            )
        reason = "no feasible deployment found within the time limit"
        return Outcome(
            arch, Status.TIME_LIMIT, None, None, None, None, elapsed, ORACLE_BACKEND, reason
        )
    penalty = None if archspec.get(arch).free_serving else 0.0
    return Outcome(
        arch,
        status,
        found.deployment,
        found.objective,
        0.0 if found.complete else None,
        penalty,
        elapsed,
        ORACLE_BACKEND,
        eps=layout_eps(imbalance, found.deployment, inst.search.unit_gpus),
        pairing=found.pairing,
    )


def _diagnose_all(inst: Instance, arch: str, imbalance: ImbalanceFn) -> str:
    """Why no pairing holds a deployment: each pairing's reason (one pairing: its reason)."""
    choices = branches.of(inst, arch)
    if not choices:
        return _no_sizes(inst, arch)
    if len(choices) == 1:
        return diagnose(branches.on(inst, choices[0]), arch, imbalance)
    return branches.joined_reasons(
        arch, [(b, diagnose(branches.on(inst, b), arch, imbalance)) for b in choices]
    )
