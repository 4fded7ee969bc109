"""Exhaustive enumeration: the oracle every integer program is checked against.

It walks the full candidate grid of the search space (every N_BO, expert units, replica count,
serving units and sequences per GPU n), evaluates each deployment forward with the architecture's
cost model, scores it at its own pace (or at the target for tokens_per_gpu_at_target) and keeps
the best feasible one. It never looks at layouts, caps, pruning, levels or programs, so it shares
no modelling shortcut with the backends it checks. With several hardware pairings
(docs/model.md §17) it walks them too, with its own loop: AFD every listed (attention, FFN)
pair, EP every hardware named on either side.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np

from formulations import afd, archspec, ep, order, tp
from formulations.costs import CostModel, experts_per_gpu
from formulations.layouts import ImbalanceFn
from formulations.types import Deployment, Hardware, Instance, Search

# Candidates evaluated per numpy call: large enough to amortise Python, small enough for memory.
CHUNK = 1 << 21


@dataclass(frozen=True)
class Best:
    deployment: Deployment | None
    objective: float | None
    candidates: int
    solve_s: float
    complete: bool
    pairing: tuple[Hardware, Hardware] | None = None
    """(attention, FFN) hardware of the deployment (EP: the same twice)."""


def candidates(search: Search, arch: str) -> int:
    """Size of the grid enumeration walks."""
    s, spec = search, archspec.get(arch)
    count = len(s.redundant_experts.values()) * len(s.sequences_per_gpu.values())
    count *= len(getattr(s, spec.micro_batches_field).values())
    for field in [p.search_field for p in spec.pools] + list(filter(None, [spec.unit_gpus_field])):
        count *= len(getattr(s, field).values())
    return count


class _Tracker:
    """The best candidate so far, by the order every backend follows (formulations.order)."""

    def __init__(self, maximize: bool, unit_gpus: int) -> None:
        self.maximize = maximize
        self.unit_gpus = unit_gpus
        self.value: float | None = None
        self.deployment: Deployment | None = None

    def offer(self, value: float, d: Deployment) -> None:
        if not math.isfinite(value):
            return
        if self.value is not None and self.deployment is not None:
            if not order.better(
                value, d, self.value, self.deployment, self.unit_gpus, self.maximize
            ):
                return
        self.value, self.deployment = value, d


def _scores(
    inst: Instance, ok: np.ndarray, in_flight: np.ndarray, gpus: np.ndarray, tpot_s: np.ndarray
) -> np.ndarray:
    """Objective of every candidate in natural units; infeasible ones get the worst value.

    in_flight: sequences in flight over all serving GPUs (sigma * serving GPUs * n).
    """
    s, w = inst.search, inst.workload
    objective = s.objective
    if objective == "min_gpus":
        meets = in_flight / tpot_s >= float(w.demand_tokens_per_s or 0.0) * (1 - 1e-12)
        return np.where(ok & meets, gpus, np.inf).astype(float)
    if s.max_gpus is not None:
        ok = ok & (gpus <= s.max_gpus)
    if objective == "tokens_per_gpu_at_target":
        value = in_flight / (w.tpot_ms * 1e-3) / gpus
    elif objective == "total_tokens":
        value = in_flight / tpot_s
    else:
        value = in_flight / tpot_s / gpus
    return np.where(ok, value, -np.inf)


def _afd(inst: Instance, imbalance: ImbalanceFn, limit_s: float, start: float) -> Best:
    s, cm = inst.search, CostModel.of(inst, "afd")
    g, sigma = cm.unit_gpus, inst.workload.dp_imbalance
    track = _Tracker(s.objective != "min_gpus", g)
    a_vals = np.arange(s.attention_nodes.lo, s.attention_nodes.hi + 1)
    n_vals = np.arange(s.sequences_per_gpu.lo, s.sequences_per_gpu.hi + 1)
    rows = max(1, CHUNK // len(n_vals))
    count = 0
    for nbo in s.afd_micro_batches.values():
        for f in s.ffn_nodes.values():
            for r in s.redundant_experts.values():
                eps = float(imbalance(np.array([f * g]), np.array([r]))[0])
                if not math.isfinite(eps):  # no placement computed: not searched
                    count += len(a_vals) * len(n_vals)
                    continue
                experts = int(experts_per_gpu(cm.model, r, f * g))
                if (
                    s.experts_per_gpu
                    and not s.experts_per_gpu.lo <= experts <= s.experts_per_gpu.hi
                ):
                    count += len(a_vals) * len(n_vals)
                    continue
                for i in range(0, len(a_vals), rows):
                    if time.perf_counter() - start > limit_s:
                        return Best(track.deployment, track.value, count, 0.0, False)
                    a, n = a_vals[i : i + rows, None], n_vals[None, :]
                    count += a.size * n.size
                    st = afd.stages(cm, a, f, n, r, nbo, eps)
                    ok = np.logical_and.reduce(list(afd.checks(cm, st).values()))
                    tpot = cm.tpot_s(st.stage_s, nbo)
                    gpus = (a + f) * g + 0 * n
                    score = _scores(inst, ok, sigma * g * a * n, gpus, tpot)
                    # Among equal optima: fewer GPUs (fewer attention units), more sequences.
                    units = a + 0 * n
                    k = order.pick(score.ravel(), [units.ravel(), -(n + 0 * a).ravel()],
                                   track.maximize)  # fmt: skip
                    if k < 0:
                        continue
                    ai, ni = np.unravel_index(k, score.shape)
                    track.offer(
                        float(score[ai, ni]),
                        Deployment(
                            "afd",
                            int(n[0, ni]),
                            int(nbo),
                            int(r),
                            nodes=(("attention", int(a[ai, 0])), ("ffn", int(f))),
                        ),
                    )
    return Best(track.deployment, track.value, count, 0.0, True)


def _ep(inst: Instance, imbalance: ImbalanceFn, limit_s: float, start: float) -> Best:
    s, cm = inst.search, CostModel.of(inst, "ep")
    g, sigma = cm.unit_gpus, inst.workload.dp_imbalance
    track = _Tracker(s.objective != "min_gpus", g)
    n_vals = np.arange(s.sequences_per_gpu.lo, s.sequences_per_gpu.hi + 1)
    count = 0
    for nbo in s.ep_micro_batches.values():
        for units in s.nodes.values():
            for r in s.redundant_experts.values():
                if time.perf_counter() - start > limit_s:
                    return Best(track.deployment, track.value, count, 0.0, False)
                count += len(n_vals)
                experts = int(experts_per_gpu(cm.model, r, units * g))
                if (
                    s.experts_per_gpu
                    and not s.experts_per_gpu.lo <= experts <= s.experts_per_gpu.hi
                ):
                    continue
                eps = float(imbalance(np.array([units * g]), np.array([r]))[0])
                if not math.isfinite(eps):  # no placement computed: not searched
                    continue
                st = ep.stages(cm, units, n_vals, r, nbo, eps)
                ok = np.logical_and.reduce(list(ep.checks(cm, st).values()))
                tpot = cm.tpot_s(st.stage_s, nbo)
                gpus = np.full(n_vals.shape, units * g)
                score = _scores(inst, ok, sigma * units * g * n_vals, gpus, tpot)
                k = order.pick(score, [-n_vals], track.maximize)
                if k < 0:
                    continue
                track.offer(
                    float(score[k]),
                    Deployment("ep", int(n_vals[k]), int(nbo), int(r), nodes=(("ep", int(units)),)),
                )
    return Best(track.deployment, track.value, count, 0.0, True)


def _tp_sizes(inst: Instance) -> list[int]:
    """Group sizes t that split heads, KV heads and M inside one domain (docs/model.md §20.1),
    checked here on their own rather than through formulations.tp."""
    m, domain = inst.model, inst.hardware.scaleup_domain_gpus
    kv = m.num_attention_heads if m.attention in ("mla", "mha") else int(m.num_kv_heads or 1)
    return [
        t
        for t in inst.search.tensor_parallel.values()
        if t <= domain
        and m.num_attention_heads % t == 0
        and m.moe_intermediate_size % t == 0
        and (kv % t == 0 or t % kv == 0 or m.attention == "mla")
    ]


def _tp(inst: Instance, imbalance: ImbalanceFn, limit_s: float, start: float) -> Best:
    del imbalance  # no expert ranks
    s, sigma = inst.search, inst.workload.dp_imbalance
    track = _Tracker(s.objective != "min_gpus", s.unit_gpus)
    n_vals = np.arange(s.sequences_per_gpu.lo, s.sequences_per_gpu.hi + 1)
    count = 0
    for t in _tp_sizes(inst):
        cm = CostModel.of(inst, archspec.TP.name, int(t))
        for nbo in s.tp_micro_batches.values():
            st = tp.stages(cm, n_vals, nbo)
            ok = np.logical_and.reduce(list(tp.checks(cm, st).values()))
            tpot = cm.tpot_s(st.stage_s, nbo)
            for r in s.tp_groups.values():
                if time.perf_counter() - start > limit_s:
                    return Best(track.deployment, track.value, count, 0.0, False)
                count += len(n_vals)
                if s.max_gpus is not None and r * t > s.max_gpus:
                    continue
                gpus = np.full(n_vals.shape, r * t)
                score = _scores(inst, ok, sigma * r * n_vals, gpus, tpot)
                k = order.pick(score, [-n_vals], track.maximize)
                if k < 0:
                    continue
                d = Deployment(
                    archspec.TP.name,
                    int(n_vals[k]),
                    int(nbo),
                    0,
                    nodes=((archspec.TP.name, int(r)),),
                    unit_gpus=int(t),
                )
                track.offer(float(score[k]), d)
    return Best(track.deployment, track.value, count, 0.0, True)


ORACLES = {archspec.AFD.name: _afd, archspec.EP.name: _ep, archspec.TP.name: _tp}
"""One oracle per architecture, each written from its cost model alone."""


def _pairings(inst: Instance, arch: str) -> list[tuple[Hardware, Hardware]]:
    """The hardware pairings to walk, straight from the instance's fields."""
    if inst.hardware_choices:
        pairs = list(inst.hardware_choices)
    else:
        pairs = [(inst.hardware, inst.ffn_hardware or inst.hardware)]
    if archspec.get(arch).own_ffn_hardware:
        return pairs
    single: list[Hardware] = []
    for pair in pairs:
        single += [h for h in pair if h not in single]
    return [(h, h) for h in single]


def enumerate_best(
    inst: Instance, arch: str, imbalance: ImbalanceFn, time_limit_s: float = math.inf
) -> Best:
    """Best deployment of `arch` by brute force over the whole grid of every pairing.

    Pairings share the time limit; the best objective wins, then the smaller deployment
    (formulations.order), then the first pairing listed.
    """
    start = time.perf_counter()
    run = ORACLES[arch]
    maximize = inst.search.objective != "min_gpus"
    best: Best | None = None
    count = 0
    complete = True
    for attention, ffn in _pairings(inst, arch):
        branch = dataclasses.replace(
            inst, hardware=attention, ffn_hardware=ffn, hardware_choices=()
        )
        left = time_limit_s - (time.perf_counter() - start)
        found = run(branch, imbalance, left, time.perf_counter())
        count += found.candidates
        complete = complete and found.complete
        if found.deployment is None or found.objective is None:
            continue
        found = dataclasses.replace(found, pairing=(attention, ffn))
        assert found.deployment is not None and found.objective is not None
        if best is None or order.better(
            found.objective,
            found.deployment,
            best.objective,  # type: ignore[arg-type]
            best.deployment,  # type: ignore[arg-type]
            inst.search.unit_gpus,
            maximize,
        ):
            best = found
    elapsed = time.perf_counter() - start
    if best is None:
        return Best(None, None, count, elapsed, complete)
    return dataclasses.replace(best, candidates=count, solve_s=elapsed, complete=complete)
