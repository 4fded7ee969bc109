"""Resource limits: how big a search space, a loads trace or an input file may be.

Every request is sized *before* anything is allocated; one beyond a limit is refused
with the size it would need (`solver.errors.LimitError`, exit code 2), so a typo such
as `max = 100000000` gives one clear line instead of a MemoryError, a 16 GiB
allocation or an hour of silence. The loader calls
these functions during validation (so `validate` refuses what `solve` could not hold),
and the solver may call them again right before it allocates.

The limits are generous for real deployments (a million candidate layouts is 1,000
FFN node counts times 1,000 replica budgets) and measured on the 2-core CI machine:
a million AFD layouts take about 10 s and 360 MB to build, their caps included.
"""

from __future__ import annotations

import math

from formulations import archspec
from formulations.types import Search
from solver.errors import LimitError

# ---- input files ----
MAX_TOML_BYTES = 1 << 20
"""Instance, model and hardware files: 1 MiB (the shipped ones are under 4 KiB)."""
MAX_TOML_DEPTH = 16
"""Nesting of tables and arrays in an input file or a --set value (the schema needs 3)."""
MAX_TEXT_CHARS = 4096
"""Longest string value in an input file (names, sources, paths)."""

# ---- expert loads ----
MAX_LOADS_FILE_BYTES = 64 << 20
"""A loads CSV: 64 MiB (about 5 million rows of layer,expert,tokens)."""
MAX_LOADS_LINE_CHARS = 8192
"""One CSV line; a row of numbers needs fewer than 60 characters (extra columns allowed)."""
MAX_LOADS_ROWS = 5_000_000
"""Data rows of a loads CSV; with MAX_TOKENS_PER_ROW, sums stay far below 2^63."""
MAX_TOKENS_PER_ROW = 10**12
"""Tokens in one CSV row (a trillion expert assignments)."""
MAX_TOKENS_PER_LAYER = 10**12
"""Expert assignments per layer, CSV total or generator `tokens=`: exact in a float64."""
MAX_LOAD_CELLS = 1 << 24
"""Layers x experts of one loads array: 16.8 million int64 cells, 128 MiB."""

# ---- search spaces ----
MAX_LAYOUTS = 1_000_000
"""Candidate layouts of one architecture (micro-batch counts x unit counts x replica
budgets x superpod domain choices), built as arrays before pruning."""
MAX_PLACEMENT_CELLS = 1 << 24
"""Expert ranks x expert replicas of one placement (the placement arrays are ranks x E)."""
MAX_GPUS = 10_000_000
"""GPUs in the largest deployment a search space allows (units x unit_gpus)."""

MAX_PAIRINGS = 256
"""(attention, FFN) hardware pairings of one scenario's [search] lists (each is a whole
optimisation of AFD, sharing the time limit): 16 x 16 hardware."""

# ---- sweeps ----
MAX_SWEEP_POINTS = 100_000
"""Points of one sweep (grid product, or the sum with --one-at-a-time); each is a solve of
every architecture, and each distinct value is validated before the first point runs."""

# ---- command-line options ----
MAX_WORKERS = 256
"""Local worker processes of a sweep or a placement."""
MAX_CROSSOVER_GRID = 1000
"""Coarse grid points of `crossover` (each is one solve of both architectures)."""
MAX_BISECTION_STEPS = 40
"""`crossover --tol` may not ask for more halvings of the interval than this."""
MIN_SIGMA = 1e-3
"""Smallest `imbalance --sigmas` value: 1 / the largest workload.expert_imbalance."""
MAX_LAMBDA = 1e6
"""Largest `imbalance --lambdas` value (t_a / t_f)."""


def _mib(n_bytes: float) -> str:
    return f"{n_bytes / (1 << 20):,.0f} MiB"


def layout_count(search: Search, arch: str, superpod: bool = False) -> int:
    """Layouts of `arch` before pruning: micro-batch counts x expert-pool units x replica
    budgets (x unit sizes where the architecture sizes its unit; x 2 domain choices for a
    free serving pool in a bounded superpod)."""
    spec = archspec.get(arch)
    count = (
        len(getattr(search, spec.micro_batches_field).values())
        * len(getattr(search, spec.expert_pool.search_field).values())
        * len(search.redundant_experts.values())
    )
    if spec.unit_gpus_field:
        count *= len(getattr(search, spec.unit_gpus_field).values())
    return count * (2 if superpod and spec.free_serving else 1)


def max_gpus(search: Search, arch: str, pools: str = "all") -> int:
    """GPUs of the largest deployment of `arch` the search allows (`pools="experts"`: of its
    expert pool only)."""
    spec = archspec.get(arch)
    chosen = spec.pools if pools == "all" else (spec.expert_pool,)
    units = sum(getattr(search, p.search_field).hi for p in chosen)
    size = getattr(search, spec.unit_gpus_field).hi if spec.unit_gpus_field else search.unit_gpus
    return units * size


def search_problems(
    search: Search, experts: int | None = None, with_loads: bool = False, superpod: bool = False
) -> list[str]:
    """Every way `search` exceeds a limit, each with the size it would need.

    Args:
        search: the validated search space.
        experts: routed experts per layer (E), for the placement size; None skips it.
        with_loads: expert loads are given, so every layout runs a placement.
        superpod: a bounded superpod doubles the AFD layouts (inside/outside the domain).
    """
    problems = []
    for arch in search.architectures:
        count = layout_count(search, arch, superpod)
        if count > MAX_LAYOUTS:
            spec = archspec.get(arch)
            units = f"search.{spec.expert_pool.search_field}"
            problems.append(
                f"search: {spec.label} would build {count:,} candidate layouts "
                f"({units} x search.redundant_experts x micro-batch counts); the limit is "
                f"{MAX_LAYOUTS:,}: narrow those ranges"
            )
    gpus = max((max_gpus(search, a) for a in search.architectures), default=0)
    if gpus > MAX_GPUS:
        problems.append(
            f"search: the largest deployment in range has {gpus:,} GPUs (units x unit_gpus "
            f"{search.unit_gpus}); the limit is {MAX_GPUS:,}: narrow the node ranges"
        )
    if with_loads and experts is not None:
        ranks = max(
            (
                max_gpus(search, a, "experts")
                for a in search.architectures
                if archspec.get(a).expert_ranks  # TP places no experts
            ),
            default=0,
        )
        cells = ranks * (experts + search.redundant_experts.hi)
        if cells > MAX_PLACEMENT_CELLS:
            problems.append(
                f"search: with workload.expert_loads every layout runs a placement; the largest "
                f"has {ranks:,} ranks x {experts + search.redundant_experts.hi:,} replicas = "
                f"{cells:,} cells, the limit is {MAX_PLACEMENT_CELLS:,}: narrow the node ranges"
            )
    return problems


def pairing_problems(count: int) -> list[str]:
    """A scenario whose candidate lists make more than MAX_PAIRINGS pairings."""
    if count <= MAX_PAIRINGS:
        return []
    return [
        f"search: attention_hardware x ffn_hardware make {count:,} pairings; the limit is "
        f"{MAX_PAIRINGS:,} (each is one AFD optimisation): shorten the lists"
    ]


def check_load_cells(layers: int, experts: int, what: str) -> None:
    """Refuse a loads array of `layers` x `experts` beyond MAX_LOAD_CELLS.

    Raises:
        LimitError: with the cells and bytes it would need.
    """
    cells = layers * experts
    if cells > MAX_LOAD_CELLS:
        raise LimitError(
            f"{what}: {layers:,} layers x {experts:,} experts = {cells:,} cells "
            f"({_mib(cells * 8)}); the limit is {MAX_LOAD_CELLS:,} cells "
            f"({_mib(MAX_LOAD_CELLS * 8)})"
        )


def check_placement_size(ranks: int, replicas_total: int, what: str) -> None:
    """Refuse a placement of `ranks` x `replicas_total` beyond MAX_PLACEMENT_CELLS.

    Raises:
        LimitError: with the cells it would need.
    """
    cells = ranks * replicas_total
    if cells > MAX_PLACEMENT_CELLS:
        raise LimitError(
            f"{what}: {ranks:,} ranks x {replicas_total:,} replicas = {cells:,} cells; "
            f"the limit is {MAX_PLACEMENT_CELLS:,}"
        )


def bisection_steps(width: float, tol: float) -> float:
    """Halvings that bring an interval of `width` below `tol` (inf for tol <= 0)."""
    if tol <= 0 or not math.isfinite(tol):
        return math.inf if tol <= 0 else 0.0
    return max(0.0, math.log2(width / tol)) if width > 0 else 0.0


def resource_markdown() -> str:
    """The README's list of resource limits, generated from the constants above."""
    items = [
        (
            "input file (instance, model, hardware)",
            f"{MAX_TOML_BYTES:,} bytes, nested at most "
            f"{MAX_TOML_DEPTH} levels, strings of at most {MAX_TEXT_CHARS:,} characters",
        ),
        (
            "loads CSV",
            f"a regular file of at most {MAX_LOADS_FILE_BYTES:,} bytes, "
            f"{MAX_LOADS_ROWS:,} rows, lines of {MAX_LOADS_LINE_CHARS:,} characters, "
            f"{MAX_TOKENS_PER_ROW:,} tokens per row and {MAX_TOKENS_PER_LAYER:,} per layer",
        ),
        (
            "loads array (CSV or generated)",
            f"layers x experts <= {MAX_LOAD_CELLS:,} cells; "
            "generated layers <= the model's MoE layers",
        ),
        (
            "search space",
            f"<= {MAX_LAYOUTS:,} candidate layouts per architecture (unit counts "
            f"x replica budgets x micro-batch counts), <= {MAX_GPUS:,} GPUs in the largest "
            "deployment",
        ),
        (
            "hardware pairings",
            f"<= {MAX_PAIRINGS:,} (search.attention_hardware x search.ffn_hardware), each one "
            "AFD optimisation",
        ),
        (
            "placement",
            f"ranks x replicas <= {MAX_PLACEMENT_CELLS:,} (`place`, and every layout "
            "when `workload.expert_loads` is set)",
        ),
        (
            "sweep",
            f"<= {MAX_SWEEP_POINTS:,} points (grid product, or the sum with --one-at-a-time)",
        ),
        (
            "options",
            f"--workers <= {MAX_WORKERS}, crossover --grid <= {MAX_CROSSOVER_GRID} and "
            f"--tol of at most {MAX_BISECTION_STEPS} halvings, imbalance --sigmas in "
            f"[{MIN_SIGMA:g}, 1], --lambdas <= {MAX_LAMBDA:g}",
        ),
    ]
    return "\n".join(f"- {what}: {limit}" for what, limit in items)
