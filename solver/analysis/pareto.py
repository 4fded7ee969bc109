"""The exact TPOT frontier: the best own-pace tokens/s per GPU for every TPOT target in a range.

G(theta) = max over deployments with TPOT <= theta of R / TPOT (R: sequences in flight per GPU,
Little's law). Every deployment is dominated by the left end of the step of F, the at-budget
optimum F(theta) = max R with TPOT <= theta, that contains its TPOT (docs/model.md §12): so G's
breakpoints are among the left ends of F's steps. The walk finds every step exactly, from the top
of the range down: at level theta the program proves F(theta) and returns a deployment d that
achieves it; the next level is just below TPOT(d), so a step with a faster deployment at the
same F is found too. Below the range only the best own pace matters: one own-pace solve at the
range's lower end (the stage-level scheme) settles it. Each row is the optimal deployment for
targets from its own TPOT up to the next row's.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from formulations import architectures, archspec, branches, levels, order, pairings
from formulations.binding import binding_of
from formulations.costs import CostModel
from formulations.deadline import Expired
from formulations.layouts import layout_eps
from formulations.metrics import metrics
from formulations.types import Deployment, Instance
from solver import columns
from solver import levels as scheme
from solver.backends import make_backend
from solver.errors import InputError
from solver.imbalance import imbalance_fn
from solver.io import numbers
from solver.io.outputs import check_out_dir, replacing
from solver.optimize import budget_nonpositive
from solver.rows import physical_nodes

COLUMNS = (
    "architecture",
    "tpot_ms",
    "tokens_per_s_per_user",
    "tokens_per_s_per_gpu",
    "attention_nodes",
    "ffn_nodes",
    "nodes",
    "gpus",
    "sequences_per_gpu",
    "micro_batches",
    "binding",
    "tokens_per_s",
    "micro_batch_size",
    "target_from_ms",
    "target_to_ms",
    "attention_hardware",
    "ffn_hardware",
    "tp_groups",
    "tensor_parallel",
)
"""The issue's columns first, then tokens/s (Little's law), the micro-batch size, the range
of TPOT targets for which the row's deployment is the optimum, its hardware pairing, and the
units of architectures that size their own (appended)."""


@dataclasses.dataclass(frozen=True)
class Step:
    """The left end of one step of F: a deployment, its own TPOT and throughput per GPU."""

    tpot_s: float
    value: float
    deployment: Deployment
    in_flight: float = 0.0
    """R: sequences in flight per GPU (F of the step)."""
    pairing: int = 0
    """Index of the branch (hardware pairing, unit size) the step runs on (branches.of order)."""


def _own(ctx: scheme.Context, d: Deployment) -> tuple[float, float]:
    """(TPOT in s, tokens/s per GPU) of a deployment at its own pace."""
    m = metrics(ctx.cm, d, layout_eps(ctx.imbalance, d, ctx.cm.unit_gpus))
    return m.tpot_ms * 1e-3, m.tokens_per_s_per_gpu


def walk(ctx: scheme.Context, hi_s: float, lo_s: float, tick: Any = None) -> list[Step]:
    """Every step of F with its left end in [lo_s, hi_s], then the best own pace below lo_s."""
    steps: list[Step] = []
    theta = hi_s
    while theta >= lo_s:
        if ctx.remaining() <= 0:
            raise TimeoutError("the time limit cut the frontier short")
        res = scheme.solve_level(ctx, theta, total=False)
        if not res.proven:
            raise TimeoutError("the time limit cut the frontier short")
        if res.choice is None:
            break
        tpot_s, value = _own(ctx, res.choice)
        best = float(res.best or 0.0)
        if steps and math.isclose(best, steps[-1].in_flight, rel_tol=1e-12):
            steps[-1] = Step(tpot_s, value, res.choice, best)  # same F, a faster deployment
        else:
            steps.append(Step(tpot_s, value, res.choice, best))
        if tick is not None:
            tick(theta)
        theta = min(tpot_s, theta) * (1 - levels.LEVEL_STEP)
    below = _best_below(ctx, lo_s)
    if below is not None:
        steps.append(below)
    return steps


def _best_below(ctx: scheme.Context, lo_s: float) -> Step | None:
    """The best own pace among deployments faster than the range (one descent at lo_s)."""
    w = ctx.inst.workload
    if lo_s * w.mtp_acceptance <= w.step_gap_ms * 1e-3:
        return None
    low = dataclasses.replace(ctx.inst, workload=dataclasses.replace(w, tpot_ms=lo_s * 1e3))
    sub = dataclasses.replace(ctx, inst=low)
    found = scheme.descend(sub, total=False)
    ctx.levels, ctx.programs = sub.levels, sub.programs
    if found.incumbent is None:
        return None
    if not found.proven:
        raise TimeoutError("the time limit cut the frontier short")
    d = found.incumbent[1]
    tpot_s, value = _own(ctx, d)
    return Step(tpot_s, value, d)


def frontier(
    steps: list[Step], lo_s: float, hi_s: float, unit_gpus: int = 1
) -> list[tuple[Step, float, float]]:
    """G's breakpoints within [lo_s, hi_s]: (step, first target, last target) in seconds. Steps
    of several hardware pairings make one frontier (the best over the pairings); among steps of
    equal value the one solve would return wins (formulations.order), then the first pairing."""
    ordered = sorted(
        steps, key=lambda s: (s.tpot_s, -s.value, order.key(s.deployment, unit_gpus), s.pairing)
    )
    best: Step | None = None
    rows: list[Step] = []
    for step in ordered:
        if best is None or (step.value > best.value and not order.same(step.value, best.value)):
            best = step
            rows.append(step)
        elif order.same(step.value, best.value) and order.key(
            step.deployment, unit_gpus
        ) < order.key(best.deployment, unit_gpus):
            # An equal optimum that is smaller: solve at these targets returns it.
            best = step
            rows.append(step)
    out = []
    for i, step in enumerate(rows):
        start = max(step.tpot_s, lo_s)
        end = rows[i + 1].tpot_s if i + 1 < len(rows) else hi_s
        if end < lo_s or start > hi_s:
            continue
        out.append((step, start, min(end, hi_s)))
    return out


def _row(inst: Instance, arch: str, step: Step, start: float, end: float) -> dict[str, Any]:
    inst = pairings.on(inst, *branches.of(inst, arch)[step.pairing].pairing)
    d = step.deployment
    cm = CostModel.for_deployment(inst, d)
    eps = layout_eps(imbalance_fn(inst), d, inst.search.unit_gpus)
    m = metrics(cm, d, eps)
    blocked = binding_of(inst, d, eps)  # at its own pace, as solve and evaluate say it
    return {
        "architecture": arch,
        "tpot_ms": m.tpot_ms,
        "tokens_per_s_per_user": 1000.0 / m.tpot_ms,
        "tokens_per_s_per_gpu": m.tokens_per_s_per_gpu,
        **archspec.unit_cells(d),
        "nodes": physical_nodes(inst, d, m.gpus),
        "gpus": m.gpus,
        "sequences_per_gpu": d.sequences_per_gpu,
        "micro_batches": d.micro_batches,
        "binding": "+".join(blocked) or None,
        "tokens_per_s": m.tokens_per_s,
        "micro_batch_size": m.micro_batch_size,
        # From its own TPOT (the same float as tpot_ms: a lookup at exactly that TPOT finds
        # this row), or from the range's lower end.
        "target_from_ms": m.tpot_ms if start <= step.tpot_s else start * 1e3,
        "target_to_ms": end * 1e3,
        "attention_hardware": inst.attention_hardware_name,
        "ffn_hardware": inst.ffn_hardware_name,
    }


def parse_range(
    text: str | tuple[float, float] | list[float] | None, inst: Instance, option: str = "--tpot"
) -> tuple[float, float]:
    """`LO:HI` in ms, or (LO, HI) (default: a fifth of the target to four times it)."""
    if text is None:
        target = inst.workload.tpot_ms
        return target / 5, target * 4
    usage = f"{option} {numbers.show(text)}: expected LO:HI in ms, e.g. 10:200"
    if isinstance(text, str):
        parts: list[Any] = text.split(":")
        read = numbers.parse
    elif isinstance(text, (tuple, list)):
        parts, read = list(text), numbers.convert  # type: ignore[assignment]
    else:
        raise InputError([usage])
    if len(parts) != 2:
        raise InputError([usage])
    ends = [read(p, option)[0] for p in parts]
    if None in ends:
        raise InputError([usage + " (finite numbers)"])
    lo, hi = ends
    if not 0 < lo < hi <= 1e6:
        raise InputError([f"{option} {lo:g}:{hi:g}: need 0 < LO < HI <= 1e6 ms"])
    return float(lo), float(hi)


def pareto(
    inst: Instance,
    tpot_ms: tuple[float, float] | list[float] | str | None = None,
    architectures_: tuple[str, ...] | None = None,
    backend: str | None = None,
    time_limit_s: float | None = None,
    progress: Any = None,
) -> pd.DataFrame:
    """The exact frontier of own-pace tokens/s per GPU against the TPOT target, per architecture.

    Args:
        tpot_ms: (LO, HI) or "LO:HI" in ms; default a fifth of the target to four times it.
        progress: a callable taking (architecture, TPOT level in ms) after every level.
    """
    lo_ms, hi_ms = parse_range(tpot_ms, inst)
    archs = tuple(architectures_ or inst.search.architectures)
    limit = inst.search.time_limit_s if time_limit_s is None else time_limit_s
    deadline = time.perf_counter() + limit
    at_hi = inst.replace(workload=dataclasses.replace(inst.workload, tpot_ms=hi_ms))
    rows: list[dict[str, Any]] = []
    imbalance = imbalance_fn(inst)
    for arch in archs:
        if budget_nonpositive(at_hi, arch):
            continue
        steps: list[Step] = []
        # Every branch (hardware pairing, unit size) walks its own steps; the frontier is the
        # best over them.
        for i, branch in enumerate(branches.of(inst, arch)):
            tick = None if progress is None else (lambda t, arch=arch: progress(arch, t * 1e3))
            try:
                ctx = scheme.Context.of(
                    branches.on(at_hi, branch),
                    architectures.get(arch),
                    imbalance,
                    make_backend(backend or inst.search.backend),
                    deadline,
                )
                found = walk(ctx, hi_ms * 1e-3, lo_ms * 1e-3, tick)
            except (TimeoutError, Expired):
                raise InputError(
                    [
                        f"pareto: the time limit ({limit:g} s) cut the {arch} frontier short; "
                        "raise --time-limit or narrow --tpot"
                    ]
                ) from None
            steps += [dataclasses.replace(s, pairing=i) for s in found]
        g = inst.search.unit_gpus
        for step, start, end in frontier(steps, lo_ms * 1e-3, hi_ms * 1e-3, g):
            rows.append(_row(inst, arch, step, start, end))
    return columns.typed(pd.DataFrame(rows, columns=list(COLUMNS)))


OUT_FILES = ("pareto.csv", "pareto.png")
"""What `pareto --out DIR` writes (checked before the frontier is solved)."""


def write(df: pd.DataFrame, out_dir: Path, target_ms: float, force: bool = False) -> list[Path]:
    """`pareto.csv` and `pareto.png` in `out_dir` (refuses to overwrite unless `force`)."""
    from solver.analysis.frontier_plot import plot_pareto

    out = check_out_dir(out_dir, "--out", OUT_FILES, force)
    paths = [out / name for name in OUT_FILES]
    with replacing(paths[0]) as tmp:
        df.to_csv(tmp, index=False, float_format="%.10g")
    plot_pareto(df, paths[1], target_ms, winner_changes(df))
    return paths


def winner_changes(df: pd.DataFrame) -> list[tuple[float, str]]:
    """TPOTs (ms) at which the better architecture changes along the frontier."""
    if df.empty:
        return []
    grid = np.unique(np.concatenate([df["target_from_ms"].to_numpy(float)]))
    changes: list[tuple[float, str]] = []
    last = None
    for t in grid:
        live = df[(df["target_from_ms"] <= t) & (df["target_to_ms"] >= t)]
        if live.empty:
            continue
        best = live.loc[live["tokens_per_s_per_gpu"].idxmax(), "architecture"]
        if best != last:
            changes.append((float(t), str(best)))
            last = best
    return changes
