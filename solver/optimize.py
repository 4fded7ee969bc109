"""Optimise one architecture of one instance: check -> build -> solve -> extract.

For each micro-batch count N_BO the layouts and their caps are built
(`formulations.layouts`), dominated layouts pruned, and the program solved by
the chosen backend; the per-GPU objective is a ratio, solved exactly by
Dinkelbach's iterations. The enumeration backend bypasses all of that and
walks the grid (`solver.enumerate`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np

from formulations import afd_program, ep_program
from formulations.costs import CostModel
from formulations.diagnose import diagnose
from formulations.layouts import (
    AfdLayouts,
    EpLayouts,
    ImbalanceFn,
    afd_layouts,
    ep_layouts,
    layout_eps,
)
from formulations.pruning import prune_afd, prune_ep
from formulations.relaxation import afd_continuous_optimum
from formulations.types import Deployment, Instance
from solver import dinkelbach
from solver import enumerate as brute
from solver.backends import Backend, Status, make_backend
from solver.imbalance import imbalance_fn


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
    layouts: int = 0
    """Layouts left in the programs after pruning (summed over N_BO)."""
    eps: float = 1.0
    """Max/mean expert load of the chosen layout's hottest rank."""


def _served_factor(inst: Instance, micro_batches: int) -> float:
    """tokens/s per unit of S (AFD) or of N*b (EP): sigma * N_BO * g / SLO."""
    w = inst.workload
    return w.dp_imbalance * micro_batches * inst.search.unit_gpus / (w.tpot_ms * 1e-3)


def _demand_slots(inst: Instance, micro_batches: int) -> int | None:
    demand = inst.workload.demand_tokens_per_s
    if demand is None:
        return None
    return max(1, math.ceil(demand / _served_factor(inst, micro_batches) * (1 - 1e-12)))


def _demand_fraction(inst: Instance, micro_batches: int) -> float | None:
    """The demand in (fractional) slots: with real N_A, S = N_A b need not be whole."""
    demand = inst.workload.demand_tokens_per_s
    return None if demand is None else demand / _served_factor(inst, micro_batches)


def _natural(
    inst: Instance, micro_batches: int, slots: float, units: float, objective: str
) -> float:
    """Program objective -> natural units (tokens/s/GPU, tokens/s, GPUs)."""
    g = inst.search.unit_gpus
    if objective == "min_gpus":
        return units * g
    served = _served_factor(inst, micro_batches) * slots
    return served / (units * g) if objective == "tokens_per_gpu" else served


def _improves(new: float, old: float | None, objective: str) -> bool:
    if old is None:
        return True
    return new < old if objective == "min_gpus" else new > old


def _gap(value: float, bound: float | None) -> float | None:
    if bound is None or not math.isfinite(bound):
        return None
    return max(0.0, abs(bound - value) / max(abs(bound), 1e-12))


# ---- AFD ----------------------------------------------------------------------------------


def _solve_afd_linear(
    inst: Instance, lay: AfdLayouts, backend: Backend, deadline: float, objective: str
) -> tuple[Status, afd_program.AfdChoice | None, float | None]:
    s = inst.search
    prob, h = afd_program.build_afd_program(
        lay,
        s.sequences_per_gpu,
        objective,
        demand_slots=_demand_slots(inst, lay.micro_batches),
    )
    sol = backend.solve(prob, max(deadline - time.perf_counter(), 1e-3))
    if not sol.has_values:
        return sol.status, None, None
    return sol.status, afd_program.read_afd_choice(h, sol.values), sol.bound


def optimize_afd(
    inst: Instance, backend_name: str, imbalance: ImbalanceFn, warm_start: bool = True
) -> Outcome:
    t0 = time.perf_counter()
    s, cm = inst.search, CostModel.of(inst)
    objective = s.objective
    deadline = t0 + s.time_limit_s
    # Dominated layouts never change an optimum, integer or relaxed: prune once for both.
    pruned = [prune_afd(afd_layouts(cm, nbo, s, imbalance)) for nbo in s.afd_micro_batches.values()]
    relaxed = _afd_relaxed(inst, pruned)
    if backend_name == "enumerate":
        return _from_enumeration(inst, "afd", t0, relaxed, imbalance)
    backend = make_backend(backend_name)
    best: tuple[float, Deployment] | None = None
    bound_total: float | None = None
    statuses = []
    kept = 0
    for lay in pruned:
        kept += len(lay)
        if len(lay) == 0:
            continue
        nbo = lay.micro_batches
        if objective == "tokens_per_gpu":
            status, choice, bound = dinkelbach.solve_ratio(
                lay, s.sequences_per_gpu, backend, deadline, warm_start
            )
            bound_nat = None if bound is None else _served_factor(inst, nbo) * bound / s.unit_gpus
        else:
            status, choice, bound = _solve_afd_linear(inst, lay, backend, deadline, objective)
            bound_nat = None
            if bound is not None:
                bound_nat = (
                    bound * s.unit_gpus
                    if objective == "min_gpus"
                    else (_served_factor(inst, nbo) * bound)
                )
        statuses.append(status)
        if choice is None:
            continue
        f = int(lay.ffn_units[choice.layout])
        value = _natural(
            inst, nbo, choice.attention_units * choice.seqs, choice.attention_units + f, objective
        )
        if bound_nat is not None:
            bound_total = (
                bound_nat
                if bound_total is None
                else (
                    min(bound_total, bound_nat)
                    if objective == "min_gpus"
                    else max(bound_total, bound_nat)
                )
            )
        if best is None or _improves(value, best[0], objective):
            d = Deployment(
                "afd",
                choice.seqs,
                nbo,
                int(lay.redundant[choice.layout]),
                attention_units=choice.attention_units,
                ffn_units=f,
            )
            best = (value, d)
    return _finish(
        inst, "afd", backend_name, t0, best, statuses, bound_total, relaxed, kept, imbalance
    )


def _afd_relaxed(inst: Instance, pruned: list[AfdLayouts]) -> float | None:
    """Best natural objective with real N_A (MODEL.md section 6), over every N_BO."""
    best = None
    for lay in pruned:
        nbo = lay.micro_batches
        found = afd_continuous_optimum(
            lay,
            inst.search.sequences_per_gpu,
            inst.search.objective,
            _demand_fraction(inst, nbo),
        )
        if found is None:
            continue
        value, n_a, c, b = found
        f = int(lay.ffn_units[c])
        if inst.search.objective == "tokens_per_gpu":
            natural = _served_factor(inst, nbo) * value / inst.search.unit_gpus
        else:
            natural = _natural(inst, nbo, n_a * b, n_a + f, inst.search.objective)
        if best is None or _improves(natural, best, inst.search.objective):
            best = natural
    return best


# ---- EP -----------------------------------------------------------------------------------


def optimize_ep(inst: Instance, backend_name: str, imbalance: ImbalanceFn) -> Outcome:
    t0 = time.perf_counter()
    s, cm = inst.search, CostModel.of(inst)
    objective = s.objective
    if backend_name == "enumerate":
        return _from_enumeration(inst, "ep", t0, None, imbalance)
    backend = make_backend(backend_name)
    best: tuple[float, Deployment] | None = None
    bound_total: float | None = None
    statuses = []
    kept = 0
    for nbo in s.ep_micro_batches.values():
        full: EpLayouts = ep_layouts(
            cm,
            nbo,
            s,
            imbalance,
        )
        lay = prune_ep(full, objective)
        kept += len(lay)
        if len(lay) == 0:
            continue
        demand = _demand_slots(inst, nbo)
        prob, h = ep_program.build_ep_program(
            lay, s.sequences_per_gpu, objective, demand_seqs=demand
        )
        sol = backend.solve(prob, max(t0 + s.time_limit_s - time.perf_counter(), 1e-3))
        statuses.append(sol.status)
        if not sol.has_values:
            continue
        choice = ep_program.read_ep_choice(h, sol.values)
        n = int(lay.units[choice.layout])
        value = _natural(
            inst,
            nbo,
            n * choice.seqs if objective != "tokens_per_gpu" else choice.seqs,
            n if objective == "min_gpus" else 1,
            objective,
        )
        if objective == "tokens_per_gpu":
            value = _served_factor(inst, nbo) * choice.seqs / s.unit_gpus
            bound = (
                None if sol.bound is None else _served_factor(inst, nbo) * sol.bound / s.unit_gpus
            )
        elif objective == "total_tokens":
            bound = None if sol.bound is None else _served_factor(inst, nbo) * sol.bound
        else:
            bound = None if sol.bound is None else sol.bound * s.unit_gpus
        if bound is not None:
            bound_total = (
                bound
                if bound_total is None
                else (
                    min(bound_total, bound) if objective == "min_gpus" else max(bound_total, bound)
                )
            )
        if best is None or _improves(value, best[0], objective):
            best = (
                value,
                Deployment("ep", choice.seqs, nbo, int(lay.redundant[choice.layout]), units=n),
            )
    return _finish(inst, "ep", backend_name, t0, best, statuses, bound_total, None, kept, imbalance)


# ---- shared -------------------------------------------------------------------------------


def _penalty(inst: Instance, arch: str, value: float | None, relaxed: float | None) -> float | None:
    if value is None:
        return None
    if arch == "ep":
        return 0.0
    if relaxed is None or relaxed == 0:
        return None
    if inst.search.objective == "min_gpus":
        return max(0.0, 1.0 - relaxed / value)
    return max(0.0, 1.0 - value / relaxed)


def _finish(
    inst: Instance,
    arch: str,
    backend: str,
    t0: float,
    best: tuple[float, Deployment] | None,
    statuses: list[Status],
    bound: float | None,
    relaxed: float | None,
    kept: int,
    imbalance: ImbalanceFn,
) -> Outcome:
    empty = Outcome(
        architecture=arch,
        status=Status.INFEASIBLE,
        deployment=None,
        objective=None,
        gap=None,
        discrete_penalty=None,
        solve_s=time.perf_counter() - t0,
        backend=backend,
        layouts=kept,
    )
    if best is None:
        if any(st in (Status.TIME_LIMIT, Status.ERROR) for st in statuses):
            status = Status.TIME_LIMIT if Status.TIME_LIMIT in statuses else Status.ERROR
            reason = "no feasible deployment found within the time limit"
            return dataclasses.replace(empty, status=status, reason=reason)
        return dataclasses.replace(empty, reason=diagnose(inst, arch, imbalance))
    value, d = best
    proven = all(st == Status.OPTIMAL for st in statuses if st != Status.INFEASIBLE)
    if bound is None:
        # The continuous-unit optimum bounds the integer one: a gap even without a dual bound.
        bound = relaxed
    return dataclasses.replace(
        empty,
        status=Status.OPTIMAL if proven else Status.FEASIBLE,
        deployment=d,
        objective=value,
        gap=0.0 if proven else _gap(value, bound),
        discrete_penalty=_penalty(inst, arch, value, relaxed),
        eps=layout_eps(imbalance, d, inst.search.unit_gpus),
    )


def _from_enumeration(
    inst: Instance, arch: str, t0: float, relaxed: float | None, imbalance: ImbalanceFn
) -> Outcome:
    cm = CostModel.of(inst)
    s = inst.search
    run = brute.enumerate_afd if arch == "afd" else brute.enumerate_ep
    found = run(
        cm,
        s,
        s.objective,
        inst.workload.demand_tokens_per_s,
        imbalance,
        max(t0 + s.time_limit_s - time.perf_counter(), 0.0),
    )
    status = [Status.OPTIMAL if found.complete else Status.FEASIBLE]
    best = None if found.deployment is None else (float(found.objective or 0.0), found.deployment)
    if best is None and not found.complete:
        status = [Status.TIME_LIMIT]
    return _finish(inst, arch, "enumerate", t0, best, status, None, relaxed, 0, imbalance)


def optimize(
    inst: Instance,
    arch: str,
    backend_name: str | None = None,
    warm_start: bool = True,
    imbalance: ImbalanceFn | None = None,
) -> Outcome:
    """Optimise `arch` ("afd" or "ep") of `inst` with `backend_name` (default: the instance's).

    `warm_start=False` starts Dinkelbach from scratch instead of the best hull vertex
    (tests use it to check the program alone finds the optimum).
    """
    name = backend_name or inst.search.backend
    imbalance = imbalance or imbalance_fn(inst)
    if cm_budget_nonpositive(inst, arch):
        reason = diagnose(inst, arch, imbalance)
        return Outcome(arch, Status.INFEASIBLE, None, None, None, None, 0.0, name, reason)
    if arch == "afd":
        return optimize_afd(inst, name, imbalance, warm_start)
    return optimize_ep(inst, name, imbalance)


def cm_budget_nonpositive(inst: Instance, arch: str) -> bool:
    cm = CostModel.of(inst)
    rng = inst.search.afd_micro_batches if arch == "afd" else inst.search.ep_micro_batches
    return bool(np.all(cm.stage_budget_s(np.array(list(rng.values()))) <= 0))
