"""Every deployment of one workload on one pairing: the unit grid behind exact fleet candidates.

For AFD and EP the deployments a fleet can buy differ by their units (N_A and N_F, or N) and
by how they run them (sequences per GPU n, micro-batches N_BO, redundant experts R). A fleet
only cares about a deployment's GPUs on each pool and its tokens/s, so for every unit count
the best run is enough: `unit_grid` evaluates the forward cost model (docs/model.md §4-§9) on
every (units, N_BO, R, n) of the search ranges in numpy, and keeps per unit count the most
tokens/s at its own pace (§9.1) among the runs that meet the TPOT target and fit (§10).
`undominated` then drops every unit count another one beats on every pool and on tokens/s
(docs/model.md §18.1).

Why this is exact and why it is cheap: it is the enumeration of `solver.enumerate` (the
oracle every integer program is checked against) restricted to the per-unit maxima, so it
reaches every deployment of the ranges; and its size is the ranges' (units x n), not the
demand's. The sequences per GPU stop at the first block of n where no unit count of a row
passes: the checks are monotone in n (§11.2), so no larger n passes either.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from formulations import afd, archspec, ep
from formulations.costs import CostModel, experts_per_gpu
from formulations.types import Instance

N_BLOCK = 512
"""Sequences per GPU evaluated per numpy call (the first block usually holds every feasible n)."""


class Cut(Exception):
    """The deadline passed before the grid was complete."""


def _blocks(lo: int, hi: int) -> Iterator[np.ndarray]:
    for start in range(lo, hi + 1, N_BLOCK):
        yield np.arange(start, min(start + N_BLOCK, hi + 1))


def _experts_allowed(inst: Instance, cm: CostModel, r: int, expert_gpus: int) -> bool:
    pin = inst.search.experts_per_gpu
    return not pin or pin.lo <= int(experts_per_gpu(cm.model, r, expert_gpus)) <= pin.hi


def _best_over_n(
    evaluate: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Per row of units: the most tokens/s over n, its n and TPOT (s); None if no n passes.

    `evaluate(n)` returns (tokens/s with -inf where a check fails, TPOT s), shaped (rows, n).
    Blocks of n stop once a block's largest n passes for no row (monotone checks, §11.2).
    """
    best = best_n = best_tpot = None
    for n in _blocks(lo, hi):
        value, tpot = evaluate(n)
        k = value.shape[1] - 1 - np.argmax(value[:, ::-1], axis=1)  # ties: the larger n
        rows = np.arange(value.shape[0])
        v, nn, tt = value[rows, k], n[k], tpot[rows, k]
        if best is None:
            best, best_n, best_tpot = v, nn, tt
        else:
            better = v >= best
            best = np.where(better, v, best)
            best_n = np.where(better, nn, best_n)
            best_tpot = np.where(better, tt, best_tpot)
        if not np.isfinite(value[:, -1]).any():
            break
    if best is None or best_n is None or best_tpot is None:
        return None
    return best, best_n, best_tpot


Best = dict[tuple[int, ...], tuple[float, int, float]]
"""Units (per pool of the architecture) -> (tokens/s, sequences per GPU, TPOT s)."""


def _offer(best: Best, units: tuple[int, ...], tokens: float, n: int, tpot_s: float) -> None:
    if math.isfinite(tokens) and tokens > best.get(units, (0.0, 0, 0.0))[0]:
        best[units] = (tokens, n, tpot_s)


def _runs(
    inst: Instance,
    cm: CostModel,
    imbalance: Any,
    check: Callable[[], None],
    micro_batches: Iterable[int],
    expert_units: Iterable[int],
) -> Iterator[tuple[int, int, int, float]]:
    """(N_BO, expert units, R, eps) of every run the search allows whose placement exists."""
    g = cm.unit_gpus
    for nbo in micro_batches:
        for units in expert_units:
            for r in inst.search.redundant_experts.values():
                check()
                eps = float(imbalance(np.array([units * g]), np.array([r]))[0])
                if math.isfinite(eps) and _experts_allowed(inst, cm, r, units * g):
                    yield nbo, units, r, eps


def _afd(inst: Instance, imbalance: Any, check: Callable[[], None]) -> Best:
    s, cm = inst.search, CostModel.of(inst, archspec.AFD.name)
    g, sigma = cm.unit_gpus, inst.workload.dp_imbalance
    a = np.arange(s.attention_nodes.lo, s.attention_nodes.hi + 1)[:, None]
    best: Best = {}
    runs = _runs(inst, cm, imbalance, check, s.afd_micro_batches.values(), s.ffn_nodes.values())
    for nbo, f, r, eps in runs:

        def evaluate(n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            st = afd.stages(cm, a, f, n[None, :], r, nbo, eps)  # noqa: B023
            ok = np.logical_and.reduce(list(afd.checks(cm, st).values()))
            tpot = np.broadcast_to(cm.tpot_s(st.stage_s, nbo), ok.shape)  # noqa: B023
            return np.where(ok, sigma * g * a * n[None, :] / tpot, -np.inf), tpot

        found = _best_over_n(evaluate, s.sequences_per_gpu.lo, s.sequences_per_gpu.hi)
        if found is not None:
            for i, units in enumerate(a[:, 0]):
                _offer(best, (int(units), int(f)), *_at(found, i))
    return best


def _ep(inst: Instance, imbalance: Any, check: Callable[[], None]) -> Best:
    s, cm = inst.search, CostModel.of(inst, archspec.EP.name)
    g, sigma = cm.unit_gpus, inst.workload.dp_imbalance
    best: Best = {}
    for nbo, units, r, eps in _runs(
        inst, cm, imbalance, check, s.ep_micro_batches.values(), s.nodes.values()
    ):

        def evaluate(n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            st = ep.stages(cm, units, n, r, nbo, eps)  # noqa: B023
            ok = np.logical_and.reduce(list(ep.checks(cm, st).values()))
            tpot = np.broadcast_to(cm.tpot_s(st.stage_s, nbo), ok.shape)  # noqa: B023
            value = np.where(ok, sigma * units * g * n / tpot, -np.inf)  # noqa: B023
            return value[None, :], tpot[None, :]

        found = _best_over_n(evaluate, s.sequences_per_gpu.lo, s.sequences_per_gpu.hi)
        if found is not None:
            _offer(best, (int(units),), *_at(found, 0))
    return best


def _at(found: tuple[np.ndarray, np.ndarray, np.ndarray], i: int) -> tuple[float, int, float]:
    return float(found[0][i]), int(found[1][i]), float(found[2][i])


GRIDS = {archspec.AFD.name: _afd, archspec.EP.name: _ep}
"""Architectures whose deployments the grid walks (TP keeps its frontier chain)."""


def unit_grid(
    inst: Instance, arch: str, deadline: float | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """Every unit count's best deployment of `arch` on the instance's one pairing, as rows.

    Rows carry the frontier row keys (`solver.sizing.candidates.ROW_KEYS`) plus
    `attention_gpus` / `ffn_gpus` (the serving pool's GPUs and the rest). Returns (rows,
    complete): complete is False when `deadline` (a `time.time()` value) cut the walk.
    """
    from solver.imbalance import imbalance_fn

    start = time.perf_counter()

    def check() -> None:
        if deadline is not None and time.time() > deadline:
            raise Cut()

    spec = archspec.get(arch)
    g = inst.search.unit_gpus
    complete = True
    try:
        best = GRIDS[arch](inst, imbalance_fn(inst), check)
    except Cut:
        return [], False
    rows = []
    for units, (tokens, n, tpot_s) in sorted(best.items()):
        gpus = sum(units) * g
        if inst.search.max_gpus is not None and gpus > inst.search.max_gpus:
            continue
        row: dict[str, Any] = {p.column: None for p in spec.pools}
        row.update({p.column: u for p, u in zip(spec.pools, units, strict=True)})
        serving = units[0] * g
        row.update(
            architecture=arch,
            status="optimal",
            gpus=gpus,
            sequences_per_gpu=n,
            tokens_per_s=tokens,
            tpot_ms=tpot_s * 1e3,
            attention_gpus=serving,
            ffn_gpus=gpus - serving,
            solve_s=time.perf_counter() - start,
        )
        rows.append(row)
    return rows, complete


def undominated(rows: list[dict[str, Any]], pools: int) -> list[dict[str, Any]]:
    """Rows no other row beats: no more GPUs on any pool and at least the tokens/s.

    `pools` = 2 compares attention and FFN GPUs apart (pools on different hardware, priced
    and counted apart); 1 compares total GPUs (one hardware). Ties keep the first row in
    the order (GPUs, attention GPUs), the smaller deployment (formulations/order.py).
    """
    if not rows:
        return []
    rows = sorted(rows, key=lambda r: (r["gpus"], r["attention_gpus"], -r["tokens_per_s"]))
    if pools == 1:
        res = np.array([[r["gpus"]] for r in rows], dtype=np.int64)
    else:
        res = np.array([[r["attention_gpus"], r["ffn_gpus"]] for r in rows], dtype=np.int64)
    tokens = np.array([r["tokens_per_s"] for r in rows])
    # dom[i, j]: i beats j (listed earlier on ties, so of two equal rows the first stays).
    dom = np.all(res[:, None, :] <= res[None, :, :], axis=2) & (tokens[:, None] >= tokens[None, :])
    strict = dom & ~dom.T
    order = np.arange(len(rows))
    beaten = np.any(strict, axis=0) | np.any(
        dom & dom.T & (order[:, None] < order[None, :]), axis=0
    )
    return [r for r, b in zip(rows, beaten, strict=True) if not b]
