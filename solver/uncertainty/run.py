"""`solve --uncertainty N`: how sure is the verdict? (docs/model.md §19.4-§19.5)

    draw N hardware samples -> solve every architecture on each (the sweep engine: workers,
    Dask, a store that resumes) -> who wins how often, quantiles of each optimum and of their
    ratio, how often each shape is optimal -> every optimal shape evaluated at its best batch
    under every sample -> the robust deployment: the shape with the highest worst case

Deterministic for a seed: the samples depend on the seed alone, each sample's optimum on its
sample alone, and every aggregate is taken in sample order.
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from formulations import archspec, pairings
from formulations.costs import CostModel
from formulations.layouts import concat, layout_eps
from formulations.metrics import metrics
from formulations.robust import best_own_pace
from formulations.types import Deployment, Instance
from solver.analysis.sweep import STORE_FILES, prepare_out
from solver.errors import InputError
from solver.io import arguments
from solver.io.outputs import entry_kind, given_path
from solver.uncertainty.output import FILES, write
from solver.uncertainty.sampling import draw, instance_of

MAX_SAMPLES = 100_000
QUANTILES = (5, 50, 95)
SHAPE_KEYS = (
    "architecture",
    "attention_nodes",
    "ffn_nodes",
    "nodes",
    "tp_groups",
    "tensor_parallel",
    "redundant_experts",
    "micro_batches",
    "attention_hardware",
    "ffn_hardware",
)
"""What a deployment shape is: everything but its batch."""
INT_KEYS = (
    "sample",
    "shape",
    "attention_nodes",
    "ffn_nodes",
    "nodes",
    "tp_groups",
    "tensor_parallel",
    "redundant_experts",
    "micro_batches",
    "sequences_per_gpu",
    "gpus",
)
SAME = 1e-9
"""Relative difference below which two throughputs are equal (float noise, not a win)."""


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= SAME * max(abs(a), abs(b))


# ---- points on the engine (top level: they pickle by reference) ---------------------------


def _shape_of(d: Deployment, pairing: tuple[Any, Any]) -> dict[str, Any]:
    return {
        "architecture": d.architecture,
        **archspec.unit_cells(d),
        "redundant_experts": d.redundant,
        "micro_batches": d.micro_batches,
        "attention_hardware": pairing[0].name,
        "ffn_hardware": pairing[1].name,
    }


def _solve_sample(options: dict[str, Any], _: str, point: dict[str, Any]) -> list[dict[str, Any]]:
    """Optimise every architecture on one hardware sample."""
    from solver.optimize import optimize

    inst = instance_of(options["instance"], point["sample"])
    rows = []
    for arch in options["architectures"]:
        left = options["deadline"] - time.time()
        if left <= 0:
            rows.append({"architecture": arch, "status": "time_limit"})
            continue
        out = optimize(inst, arch, options["backend"], deadline=time.perf_counter() + left)
        row: dict[str, Any] = {"architecture": arch, "status": str(out.status)}
        if out.deployment is not None and out.pairing is not None:
            on = pairings.on(inst, *out.pairing)
            m = metrics(CostModel.for_deployment(on, out.deployment), out.deployment, out.eps)
            row.update(_shape_of(out.deployment, out.pairing))
            row.update(
                objective=out.objective,
                tokens_per_s_per_gpu=m.tokens_per_s_per_gpu,
                sequences_per_gpu=out.deployment.sequences_per_gpu,
                tpot_ms=m.tpot_ms,
                gpus=m.gpus,
            )
        rows.append(row)
    return rows


def _deployment(shape: dict[str, Any], n: int) -> Deployment:
    return Deployment(
        shape["architecture"],
        int(n),
        int(shape["micro_batches"]),
        int(shape["redundant_experts"]),
        **archspec.deployment_fields(shape),
    )


def shape_values(inst: Instance, shapes: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """(best own-pace tokens/s per GPU, its sequences per GPU) of every shape on `inst`
    (formulations.robust), one vectorised pass per architecture, pairing and N_BO."""
    from formulations import architectures
    from solver.imbalance import imbalance_fn

    values = np.zeros(len(shapes))
    best_n = np.zeros(len(shapes), dtype=np.int64)
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, s in enumerate(shapes):
        key = (
            s["architecture"],
            s["micro_batches"],
            s["attention_hardware"],
            s["ffn_hardware"],
            s.get("tensor_parallel"),
        )
        groups.setdefault(key, []).append(i)
    imbalance = imbalance_fn(inst)
    for (arch, _, att, ffn, unit_gpus), idx in groups.items():
        pair = pairings.find(inst, arch, att, ffn)
        if pair is None:
            continue
        on = pairings.on(inst, *pair)
        cm = CostModel.of(on, arch, unit_gpus)
        module = architectures.get(arch)
        lays = []
        for i in idx:
            d = _deployment(shapes[i], on.search.sequences_per_gpu.lo)
            eps = layout_eps(imbalance, d, on.search.unit_gpus)
            lays.append(module.single_layout(cm, d, eps, on.search))
        v, n = best_own_pace(cm, concat(lays))
        values[idx], best_n[idx] = v, n
    return values, best_n


def _robust_sample(options: dict[str, Any], _: str, point: dict[str, Any]) -> list[dict[str, Any]]:
    """Every candidate shape at its best batch on one hardware sample (none after the run's
    deadline: the robust choice then covers the samples done)."""
    if time.time() > options["deadline"]:
        return [{"shape": None}]
    inst = instance_of(options["instance"], point["sample"])
    values, best_n = shape_values(inst, options["shapes"])
    return [
        {"shape": i, "tokens_per_s_per_gpu": float(v), "sequences_per_gpu": int(n)}
        for i, (v, n) in enumerate(zip(values, best_n, strict=True))
    ]


# ---- the result ------------------------------------------------------------------------------


@dataclass
class Uncertainty:
    """Everything `solve --uncertainty` reports (`to_dict()` is the JSON object)."""

    samples: int
    seed: int
    objective: str
    architectures: tuple[str, ...]
    probability_wins: dict[str, float]
    quantiles: dict[str, dict[str, float | None]]
    shapes: list[dict[str, Any]]
    robust: dict[str, Any] | None
    sample_rows: list[dict[str, Any]] = field(default_factory=list)
    shape_rows: list[dict[str, Any]] = field(default_factory=list)
    not_solved: int = 0
    """Samples an architecture could not finish before the time limit."""
    robust_samples: int = 0
    """Samples the robust pass ran every shape on (fewer than `samples` when the time limit cut
    it: the robust deployment's worst case and p5 are over these)."""
    sources: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "seed": self.seed,
            "objective": self.objective,
            "sources": self.sources,
            "probability_wins": self.probability_wins,
            "quantiles": self.quantiles,
            "shapes": self.shapes,
            "robust": self.robust,
            "not_solved": self.not_solved,
            "robust_samples": self.robust_samples,
        }


def _quantiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {f"p{q}": None for q in QUANTILES}
    arr = np.asarray(values, dtype=float)
    return {f"p{q}": float(np.percentile(arr, q)) for q in QUANTILES}


def _label(shape: dict[str, Any]) -> str:
    hw = shape["attention_hardware"]
    if shape["ffn_hardware"] != hw:
        hw = f"{hw}+{shape['ffn_hardware']}"
    units = archspec.units_symbols(shape)
    return (
        f"{shape['architecture']} {units} R={shape['redundant_experts']} "
        f"N_BO={shape['micro_batches']} {hw}"
    )


def _winners(by_sample: dict[int, dict[str, dict[str, Any]]], minimise: bool) -> Counter[str]:
    """Wins per architecture; ties share the sample equally (exact ties are rare)."""
    wins: Counter[str] = Counter()
    for rows in by_sample.values():
        scored = {a: r["objective"] for a, r in rows.items() if r.get("objective") is not None}
        if not scored:
            wins["none"] += 1
            continue
        best = min(scored.values()) if minimise else max(scored.values())
        top = [a for a, v in scored.items() if _same(v, best)]
        for a in top:
            wins[a] += 1.0 / len(top)  # type: ignore[assignment]
    return wins


def summarise(
    inst: Instance,
    samples: list[dict[str, float]],
    seed: int,
    archs: tuple[str, ...],
    table: list[dict[str, Any]],
) -> Uncertainty:
    """Probabilities, quantiles and shapes from the per-sample optima (rows of the engine)."""
    by_sample: dict[int, dict[str, dict[str, Any]]] = {i: {} for i in range(len(samples))}
    not_solved = 0
    for row in table:
        if row.get("architecture") is None:
            continue
        by_sample[int(row["sample"])][str(row["architecture"])] = row
        not_solved += row.get("status") == "time_limit"
    minimise = inst.search.objective == "min_gpus"
    wins = _winners(by_sample, minimise)
    n = len(samples)
    probability = {a: float(wins.get(a, 0)) / n for a in archs}
    if wins.get("none"):
        probability["none"] = wins["none"] / n
    quantiles: dict[str, dict[str, float | None]] = {}
    for a in archs:
        quantiles[a] = _quantiles(
            [r[a]["objective"] for r in by_sample.values() if r.get(a, {}).get("objective")]
        )
    for i, first in enumerate(archs):  # every pair's ratio, in the listed order
        for second in archs[i + 1 :]:
            ratios = [
                r[first]["objective"] / r[second]["objective"]
                for r in by_sample.values()
                if r.get(first, {}).get("objective") and r.get(second, {}).get("objective")
            ]
            quantiles[f"{first}/{second}"] = _quantiles(ratios)
    counts: Counter[str] = Counter()
    first_shape: dict[str, dict[str, Any]] = {}
    for rows in by_sample.values():
        for row in rows.values():
            if row.get("objective") is None:
                continue
            shape = {k: row.get(k) for k in SHAPE_KEYS}
            label = _label(shape)
            counts[label] += 1
            first_shape.setdefault(label, shape)
    shapes = [
        {"shape": label, **first_shape[label], "optimal_in": c, "share": c / n}
        for label, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return Uncertainty(
        samples=n,
        seed=seed,
        objective=inst.search.objective,
        architectures=archs,
        probability_wins=probability,
        quantiles=quantiles,
        shapes=shapes,
        robust=None,
        sample_rows=table,
        not_solved=int(not_solved),
    )


def robust_choice(
    shapes: list[dict[str, Any]], values: np.ndarray, unit_gpus: int
) -> tuple[int, float, float]:
    """(shape index, worst case, p5) of the robust shape: the highest worst-case tokens/s per
    GPU over the samples, then the highest p5, then the fewest GPUs, then the listed order."""

    def gpus(s: dict[str, Any]) -> int:
        return _deployment(s, 1).gpus(unit_gpus)

    worst = values.min(axis=0)
    p5 = np.percentile(values, 5, axis=0)
    scale = max(float(worst.max()), float(p5.max()), 1e-300)

    def level(x: float) -> int:  # equal up to float noise -> equal
        return round(x / scale / SAME)

    order = sorted(
        range(len(shapes)), key=lambda i: (-level(worst[i]), -level(p5[i]), gpus(shapes[i]), i)
    )
    best = order[0]
    return best, float(worst[best]), float(p5[best])


# ---- the whole run ---------------------------------------------------------------------------


def _run(
    inst: Instance,
    points: list[dict[str, Any]],
    fn: Any,
    out: Path,
    workers: int | None,
    scheduler: str | None,
    progress: bool | None,
    resume: bool,
) -> list[dict[str, Any]]:
    from solver.analysis.engine import run_points

    if scheduler is None:
        workers = min(workers or os.cpu_count() or 1, len(points))
    path = inst.path or ""
    table = run_points(
        path if os.path.isfile(path) else "",
        points,
        fn,
        out,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        resume=resume,
    )
    rows = []
    for rec in table.to_dict(orient="records"):
        row: dict[str, Any] = {k: (None if _missing(v) else v) for k, v in rec.items()}
        for k in INT_KEYS:  # a column with gaps comes back from the store as floats
            if row.get(k) is not None:
                row[k] = int(row[k])
        rows.append(row)
    return rows


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def uncertainty(
    path_or_instance: str | os.PathLike[str] | Instance,
    samples: int,
    seed: int = 0,
    *,
    overrides: dict[str, Any] | None = None,
    architectures: tuple[str, ...] | list[str] | None = None,
    backend: str | None = None,
    time_limit_s: float | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    force: bool = False,
    progress: bool | None = None,
) -> Uncertainty:
    """Sample the hardware `samples` times, solve each sample, and aggregate (module docstring).

    Args:
        path_or_instance, overrides: the scenario, as `solve` takes it; its `[uncertainty]`
            ranges and calibrated hardware say what to sample.
        samples, seed: how many samples, and the seed that makes them reproducible.
        architectures, backend, time_limit_s: as for `solve`; the time limit bounds the run.
        workers, scheduler: the sweep engine's local processes or Dask scheduler.
        out: a directory for the per-sample results (`results.csv`, a store that `resume`
            continues), the per-shape evaluations (`robust/results.csv`), `uncertainty.json`
            and `uncertainty.png`; `force` replaces an earlier run there.
    """
    from solver.api import as_instance

    time_limit_s = arguments.time_limit(time_limit_s)
    workers = arguments.workers(workers)
    chosen = arguments.architectures(architectures)
    backend = arguments.backend(backend)
    scheduler = arguments.scheduler(scheduler)
    out = arguments.optional_path(out, "out")
    for name, value in (("resume", resume), ("force", force)):
        arguments.flag(value, name)
    progress = arguments.optional_flag(progress, "progress")
    inst = as_instance(path_or_instance, overrides)
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= MAX_SAMPLES:
        raise InputError(
            [f"--uncertainty {samples!r}: a number of samples in [1, {MAX_SAMPLES:,}]"]
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise InputError([f"--seed {seed!r}: an integer in [0, 2^63)"])
    archs = tuple(chosen or inst.search.architectures)
    drawn = draw(inst, samples, seed)
    if out is not None:
        params = {
            "samples": samples,
            "seed": seed,
            "set": overrides or {},
            "architectures": list(archs),
            "backend": backend,
        }
        out = given_path(out, "--out")
        prepare_out(out, [*STORE_FILES, *FILES], params, resume, force)
        if entry_kind(out / "robust") not in ("absent", "directory"):  # a link leads elsewhere
            raise InputError([f"--out {out / 'robust'}: not a directory of this run's samples"])
        if force:
            shutil.rmtree(out / "robust", ignore_errors=True)
    limit = inst.search.time_limit_s if time_limit_s is None else time_limit_s
    options = {
        "instance": inst,
        "architectures": archs,
        "backend": backend,
        "deadline": time.time() + limit,
    }
    # The sample's values ride along in the point (stored with the results, replayable).
    points = [
        {"sample": i, **{f"hw:{k}": v for k, v in values.items()}} for i, values in enumerate(drawn)
    ]
    fn = functools.partial(_point, _solve_sample, options)
    with tempfile.TemporaryDirectory(prefix="afd-uncertainty-") as tmp:
        base = Path(out) if out is not None else Path(tmp)
        table = _run(inst, points, fn, base, workers, scheduler, progress, resume)
        result = summarise(inst, drawn, seed, archs, table)
        shapes = [{k: s[k] for k in SHAPE_KEYS} for s in result.shapes]
        if shapes:
            robust_opts = {"instance": inst, "shapes": shapes, "deadline": options["deadline"]}
            rfn = functools.partial(_point, _robust_sample, robust_opts)
            rows = _run(inst, points, rfn, base / "robust", workers, scheduler, progress, resume)
            values = np.zeros((samples, len(shapes)))
            done = np.zeros(samples, dtype=bool)
            for row in rows:
                if row.get("shape") is not None:
                    values[int(row["sample"]), int(row["shape"])] = row["tokens_per_s_per_gpu"]
                    done[int(row["sample"])] = True
            result.shape_rows = [r for r in rows if r.get("shape") is not None]
            result.robust_samples = int(done.sum())
            if done.any():
                values = values[done]
                best, worst, p5 = robust_choice(shapes, values, inst.search.unit_gpus)
                result.robust = robust_row(inst, shapes[best], worst, p5)
                for i, s in enumerate(result.shapes):
                    s["worst_tokens_per_s_per_gpu"] = float(values[:, i].min())
                    s["p5_tokens_per_s_per_gpu"] = float(np.percentile(values[:, i], 5))
    result.sources = sources(inst)
    if out is not None:
        write(result, Path(out))
    return result


def _point(
    fn: Any, options: dict[str, Any], path: str, point: dict[str, Any]
) -> list[dict[str, Any]]:
    """Unpack a stored point (`hw:<hardware>/<field>` keys) into its sample for `fn`."""
    sample = {k[3:]: float(v) for k, v in point.items() if k.startswith("hw:")}
    return fn(options, path, {"sample": sample})


def robust_row(inst: Instance, shape: dict[str, Any], worst: float, p5: float) -> dict[str, Any]:
    """The robust shape as a result row, evaluated on the nominal hardware at its best batch
    there, with its worst case and p5 over the samples."""
    from solver import report
    from solver.api import evaluate

    values, best_n = shape_values(inst, [shape])
    n = int(best_n[0]) or inst.search.sequences_per_gpu.lo
    on = pairings.on(inst, *_pair(inst, shape))
    row = report.records(evaluate(on, _deployment(shape, n)))[0]
    row.pop("solve_s", None)  # a timing: the report is the same for the same seed
    row.update(
        worst_tokens_per_s_per_gpu=worst,
        p5_tokens_per_s_per_gpu=p5,
        nominal_tokens_per_s_per_gpu=float(values[0]),
    )
    return row


def _pair(inst: Instance, shape: dict[str, Any]) -> Any:
    pair = pairings.find(
        inst, shape["architecture"], shape["attention_hardware"], shape["ffn_hardware"]
    )
    assert pair is not None
    return pair


def sources(inst: Instance) -> list[str]:
    """What was sampled, in words."""
    from solver.uncertainty.sampling import normals

    out = [f"{n.hardware}: calibrated {', '.join(p.name for p in n.params)}" for n in normals(inst)]
    out += [f"{f} uniform in [{lo:g}, {hi:g}]" for f, lo, hi in inst.uncertainty]
    return out
