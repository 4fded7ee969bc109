"""Own-pace optima by the stage-level scheme (formulations.levels, docs/model.md §12).

`Context` prepares an architecture's layouts once (memory caps per micro-batch count); a level is
the same layouts with their time caps at the stage budget a TPOT allows. Each level's at-budget
program (Dinkelbach for per-GPU ratios, one program for totals and unit counts) settles an
interval of TPOTs; candidates evaluated at their own pace supply the incumbents that push the
levels down.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import ModuleType

import numpy as np

from formulations import deployment_program as dp
from formulations import levels, order
from formulations.costs import CostModel
from formulations.deadline import Expired
from formulations.hull import layout_hulls
from formulations.layouts import ImbalanceFn, Layouts, with_caps
from formulations.program import IntegerProgram
from formulations.pruning import prune
from formulations.types import Deployment, Instance
from solver import dinkelbach
from solver.backends import Backend, Status

GRACE_S = 1.0
"""How long past the deadline a loop over layouts may run before it stops (`Context.check`):
the time limit then holds within this plus the wrap-up of the answer."""

Incumbent = tuple[float, Deployment]
"""(value at own pace in natural units, deployment)."""


@dataclass
class Context:
    """One architecture of one instance, ready for level solves."""

    inst: Instance
    arch: ModuleType
    cm: CostModel
    imbalance: ImbalanceFn
    backend: Backend
    deadline: float
    base: list[Layouts]
    warm_start: bool = True
    """Start each program from the layouts' hull vertices (tests turn it off to check the
    programs alone reach the optimum)."""
    programs: int = 0
    levels: int = 0
    statuses: list[Status] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    """What backends said when a program failed (they reach the user in the reason)."""
    proofs: list[tuple[str, IntegerProgram, float]] | None = None
    """When kept (`--export`): every certificate program with its label and optimum."""
    on_level: Callable[[int, float], None] | None = None
    """Progress: called before each level with (level number, TPOT level in s)."""

    @staticmethod
    def of(
        inst: Instance, arch: ModuleType, imbalance: ImbalanceFn, backend: Backend, deadline: float
    ) -> Context:
        """The layouts with their memory caps; raises `Expired` past the deadline."""
        cm = CostModel.of(inst, arch.NAME)
        s = inst.search
        quantity = functools.partial(arch.family_quantity, cm)
        ctx = Context(inst, arch, cm, imbalance, backend, deadline, [])
        for nbo in getattr(s, arch.MICRO_BATCHES_FIELD).values():
            ctx.check()
            lay = arch.layouts(cm, nbo, s, imbalance)
            ctx.base.append(with_caps(lay, quantity, "memory", 0.0, cm.usable_bytes, ctx.check))
        return ctx

    @property
    def sigma(self) -> float:
        return self.inst.workload.dp_imbalance

    def remaining(self) -> float:
        return self.deadline - time.perf_counter()

    def check(self) -> None:
        """Raise `Expired` once the deadline and `GRACE_S` have passed (the loops of
        formulations/ call it once per layout, so no loop that grows with the input outlives
        the time limit). The grace lets a level started in time finish its own-pace candidates
        (an incumbent, where one is cheap to find) when the programs no longer fit."""
        if time.perf_counter() > self.deadline + GRACE_S:
            raise Expired()

    def hulls(self, lay: Layouts) -> list:
        return layout_hulls(lay, self.check)

    def level(self, tpot_s: float, max_units: int | None = None) -> list[Layouts]:
        """Every micro-batch count's layouts with time caps for TPOT <= tpot_s, viable only."""
        quantity = functools.partial(self.arch.family_quantity, self.cm)
        out = []
        for lay in self.base:
            if max_units is not None:
                lay = replace(lay, serving_hi=np.minimum(lay.serving_hi, max_units - lay.ffn_units))
            budget = float(self.cm.stage_budget_s(lay.micro_batches, tpot_s))
            if budget <= 0 or len(lay) == 0:
                continue
            lay = with_caps(lay, quantity, "time", budget, self.cm.usable_bytes, self.check)
            lay = lay.take(lay.viable())
            if len(lay):
                out.append(lay)
        return out

    def keep(self, programs: list[tuple[IntegerProgram, float]] | None, label: str) -> None:
        """Record certificate programs for `--export` (when asked for)."""
        if self.proofs is not None and programs:
            self.proofs.extend((label, prob, value) for prob, value in programs)

    def deployment(self, lay: Layouts, choice: dp.Choice) -> Deployment:
        return self.arch.read_deployment(lay, choice.layout, choice.serving, choice.sequences)

    def own_pace(self, lay: Layouts, total: bool) -> tuple[np.ndarray, np.ndarray, tuple]:
        """Candidates of `lay` at own pace: (tokens/s per GPU or in all, GPUs, (idx, a, n))."""
        hulls = None if levels.full_scan(lay) else self.hulls(lay)
        idx, a, n = levels.candidates(lay, hulls, self.check)
        if len(idx) == 0:
            empty = np.zeros(0)
            return empty, empty, (idx, a, n)
        s = self.arch.layout_stages(self.cm, lay, idx, a, n)
        tpot = self.cm.tpot_s(s.stage_s, lay.micro_batches)
        g, ranks = self.cm.unit_gpus, self.cm.unit_ranks
        units = a + lay.ffn_units[idx]
        in_flight = self.sigma * a * n * ranks
        value = in_flight / tpot if total else in_flight / tpot / (units * g)
        return value, units * g, (idx, a, n)

    def scale(self, total: bool) -> float:
        """Program units (serving units x n, or that over all units) to sequences in flight in
        all, or per GPU: sigma_DP x ranks per serving unit (/ GPUs per unit)."""
        ranks = self.sigma * self.cm.unit_ranks
        return ranks if total else ranks / self.cm.unit_gpus


def _better(new: Incumbent | None, old: Incumbent | None, unit_gpus: int) -> Incumbent | None:
    """The better incumbent: a higher value, or an equal one and a smaller deployment
    (formulations.order; min_gpus values are -GPUs, so higher is better throughout)."""
    if new is None:
        return old
    if old is None or order.better(new[0], new[1], old[0], old[1], unit_gpus, maximize=True):
        return new
    return old


def candidate_keys(lay: Layouts, idx: np.ndarray, a: np.ndarray, n: np.ndarray) -> list:
    """The tie order of formulations.order.key for candidates (layout idx, serving a, n)."""
    f = lay.ffn_units[idx]
    units = a + f
    return [units, units, a, lay.redundant[idx], -n, a, f]


def best_candidate(ctx: Context, lay: Layouts, total: bool) -> Incumbent | None:
    value, _, (idx, a, n) = ctx.own_pace(lay, total)
    if len(value) == 0:
        return None
    k = order.pick(value, candidate_keys(lay, idx, a, n))
    return float(value[k]), ctx.arch.read_deployment(lay, int(idx[k]), int(a[k]), int(n[k]))


@dataclass
class LevelResult:
    """One level's outcome: the program optimum F (sequences in flight per GPU, or in all)."""

    best: float | None
    choice: Deployment | None
    incumbent: Incumbent | None
    proven: bool
    bound: float | None = None
    """Upper bound on F when the level was cut short."""


def solve_level(
    ctx: Context, tpot_s: float, total: bool, max_units: int | None = None
) -> LevelResult:
    """F(tpot_s): the most sequences in flight (per GPU, or in all) with TPOT <= tpot_s, each
    micro-batch count's program solved exactly; own-pace candidates as incumbents. Past the
    deadline the candidates still count, the programs are skipped and the level is unproven
    (its bound: the best hull vertex, which is where the program's optimum lies)."""
    ctx.levels += 1
    if ctx.on_level is not None:
        ctx.on_level(ctx.levels, tpot_s)
    scale = ctx.scale(total)
    result = LevelResult(None, None, None, True)
    try:
        layouts = ctx.level(tpot_s, max_units)
        _solve_layouts(ctx, layouts, total, scale, result)
    except Expired:
        # The time ran out inside a loop over layouts: what was found still counts, nothing
        # about this level is proven and its bound is unknown.
        result.proven, result.bound = False, None
        return result
    if result.best is not None and ctx.warm_start:
        try:
            result.choice = _smallest_maximiser(ctx, layouts, result.best, result.choice, total)
        except Expired:
            pass  # the programs' own choice stands
    return result


def _solve_layouts(
    ctx: Context, layouts: list[Layouts], total: bool, scale: float, result: LevelResult
) -> None:
    """Each micro-batch count's program of one level, into `result`."""
    for lay in layouts:
        # Every viable layout hosts a deployment at this level (its caps say so): a program
        # that finds none contradicts the forward model.
        hosted = len(lay) > 0
        if ctx.warm_start:
            result.incumbent = _better(
                best_candidate(ctx, lay, total), result.incumbent, ctx.cm.unit_gpus
            )
        pruned = prune(lay, per_gpu=not total, check=ctx.check)
        if ctx.remaining() <= 0:
            result.proven = False
            result.bound = max(result.bound or 0.0, scale * _hull_best(ctx, pruned, total))
            continue
        if total:
            status, found, upper = _solve_total(ctx, pruned)
        else:
            kept: list[tuple[IntegerProgram, float]] | None = None if ctx.proofs is None else []
            status, found, frac, solves = dinkelbach.solve_ratio(
                pruned, ctx.backend, ctx.deadline, ctx.warm_start, kept, ctx.check
            )
            ctx.keep(kept, f"level{ctx.levels}.nbo{lay.micro_batches}")
            ctx.programs += solves
            upper = None if frac is None else float(frac)
        if status == Status.INFEASIBLE and hosted:
            status = Status.ERROR
        ctx.statuses.append(status)
        if status not in (Status.OPTIMAL, Status.INFEASIBLE):
            result.proven = False
            best = upper if upper is not None else _hull_best(ctx, pruned, total)
            result.bound = max(result.bound or 0.0, best * scale)
        if found is None:
            continue
        units = found.serving + int(pruned.ffn_units[found.layout])
        slots = found.serving * found.sequences
        value = scale * (slots if total else slots / units)
        if result.best is None or value > result.best:
            result.best, result.choice = value, ctx.deployment(pruned, found)
            own = _own(ctx, pruned, found, total)
            result.incumbent = _better((own, result.choice), result.incumbent, ctx.cm.unit_gpus)


def _smallest_maximiser(
    ctx: Context, layouts: list[Layouts], best: float, choice: Deployment | None, total: bool
) -> Deployment | None:
    """Among the level's candidates that reach its optimum F (sequences in flight per GPU, or in
    all), the smallest deployment (formulations.order); the programs' own choice otherwise.
    Every (layout, serving units) pair's largest batch is a candidate when the scan is full, so
    the choice does not depend on which maximiser a backend returned."""
    g = ctx.cm.unit_gpus
    scale = ctx.scale(total)
    picked: Incumbent | None = None
    for lay in layouts:
        hulls = None if levels.full_scan(lay) else ctx.hulls(lay)
        idx, a, n = levels.candidates(lay, hulls, ctx.check)
        if len(idx) == 0:
            continue
        slots = (a * n).astype(float)
        value = scale * (slots if total else slots / (a + lay.ffn_units[idx]))
        value = np.where(value >= best * (1 - order.SAME), value, -np.inf)
        k = order.pick(value, candidate_keys(lay, idx, a, n))
        if k < 0:
            continue
        found = ctx.arch.read_deployment(lay, int(idx[k]), int(a[k]), int(n[k]))
        picked = _better((float(value[k]), found), picked, g)
    if picked is None:
        return choice
    if choice is not None and not order.same(picked[0], best):
        return choice
    return picked[1]


def _hull_best(ctx: Context, lay: Layouts, total: bool) -> float:
    """The best T / U (or T) over the layouts' hull vertices, in program units."""
    values = [
        (t if total else t / (a + int(lay.ffn_units[c])))
        for c, hull in enumerate(ctx.hulls(lay))
        for a, t in hull
    ]
    return max(values, default=0.0)


def _own(ctx: Context, lay: Layouts, found: dp.Choice, total: bool) -> float:
    """One program solution's throughput at its own pace."""
    one = lay.take(np.array([found.layout]))
    s = ctx.arch.layout_stages(
        ctx.cm, one, np.array([0]), np.array([found.serving]), np.array([found.sequences])
    )
    tpot = float(np.asarray(ctx.cm.tpot_s(s.stage_s, lay.micro_batches)).reshape(-1)[0])
    g = ctx.cm.unit_gpus
    in_flight = ctx.sigma * found.serving * found.sequences * ctx.cm.unit_ranks
    units = found.serving + int(lay.ffn_units[found.layout])
    return in_flight / tpot if total else in_flight / tpot / (units * g)


def _solve_total(ctx: Context, lay: Layouts) -> tuple[Status, dp.Choice | None, float | None]:
    """Max T over `lay`: the best hull point (every layout's largest T is a hull vertex) is the
    incumbent, which the LP relaxation often proves; else the program decides."""
    hulls = ctx.hulls(lay)
    prob, h = dp.build(lay, "total", hulls=hulls, check=ctx.check)
    best: dp.Choice | None = None
    if ctx.warm_start:
        top = max(
            ((c, a, t) for c, hull in enumerate(hulls) for a, t in hull),
            key=lambda x: x[2],
            default=None,
        )
        if top is not None:
            best = dp.Choice(top[0], top[1], top[2] // top[1])
            ctx.programs += 1
            lp = dinkelbach.relax_bound(ctx.backend, prob, max(ctx.remaining(), 1e-3))
            if lp is not None and lp < top[2] + 1 - 1e-6:
                ctx.keep([(prob, float(top[2]))], f"level{ctx.levels}.nbo{lay.micro_batches}")
                return Status.OPTIMAL, best, float(top[2])
    sol = ctx.backend.solve(prob, max(ctx.remaining(), 1e-3))
    ctx.programs += 1
    if sol.message:
        ctx.messages.append(sol.message)
    if not sol.has_values:
        return sol.status, best, None
    if sol.status == Status.OPTIMAL:
        ctx.keep([(prob, float(sol.objective or 0.0))], f"level{ctx.levels}.nbo{lay.micro_batches}")
    return sol.status, dp.read_choice(lay, h, sol.values), sol.bound


@dataclass
class Descent:
    """The own-pace optimum the levels proved (or the incumbent when cut short)."""

    incumbent: Incumbent | None
    proven: bool
    bound: float | None
    """Upper bound on the optimum when not proven (None: unknown)."""


def _floor_tpot(ctx: Context) -> float:
    """No deployment is faster than this TPOT: the gap t_g plus every layer and micro-batch at
    the shortest stage any layout has (its smallest deployment; stages grow with the batch and
    the serving units)."""
    w = ctx.inst.workload
    fastest = math.inf
    for lay in ctx.base:
        lay = lay.take(lay.serving_lo <= lay.serving_hi)
        if len(lay) == 0:
            continue
        n = np.full(len(lay), lay.sequences.lo)
        s = ctx.arch.layout_stages(ctx.cm, lay, np.arange(len(lay)), lay.serving_lo, n)
        tpot = ctx.cm.tpot_s(s.stage_s, lay.micro_batches)
        fastest = min(fastest, float(np.min(tpot)))
    gap_only = w.step_gap_ms * 1e-3 / w.mtp_acceptance
    return gap_only if not math.isfinite(fastest) else max(gap_only, fastest * (1 - 1e-9))


def descend(ctx: Context, total: bool, max_units: int | None = None) -> Descent:
    """The own-pace optimum of tokens/s per GPU (or in all, `total`): levels from the target
    down, each settled by its program, until no deployment is fast enough to win."""
    theta = ctx.inst.workload.tpot_ms * 1e-3
    floor = _floor_tpot(ctx)
    incumbent: Incumbent | None = None
    last_best: float | None = None
    while True:
        if ctx.remaining() <= 0 and incumbent is not None:
            return Descent(incumbent, False, _cut_bound(last_best, floor, incumbent))
        res = solve_level(ctx, theta, total, max_units)
        incumbent = _better(res.incumbent, incumbent, ctx.cm.unit_gpus)
        if not res.proven:
            best = res.bound if res.bound is not None else last_best
            return Descent(incumbent, False, _cut_bound(best, floor, incumbent))
        if res.best is None or incumbent is None:
            return Descent(incumbent, True, None)
        last_best = res.best
        nxt = min(levels.next_level(res.best, incumbent[0]), theta * (1 - levels.LEVEL_STEP))
        if nxt <= floor:
            return Descent(incumbent, True, None)
        theta = nxt


def _cut_bound(best: float | None, floor: float, incumbent: Incumbent | None) -> float | None:
    """What an unexplored level could still be worth: F / (fastest possible TPOT)."""
    if best is None or floor <= 0:
        return None
    return max(best / floor, incumbent[0] if incumbent else 0.0)


def at_target(ctx: Context) -> Descent:
    """Tokens/s per GPU counted at the TPOT target: one level, its ratio over the target (the
    level's choice is already the smallest maximiser, `_smallest_maximiser`)."""
    theta = ctx.inst.workload.tpot_ms * 1e-3
    res = solve_level(ctx, theta, total=False)
    if res.choice is None or res.best is None:
        bound = None if res.bound is None else res.bound / theta
        return Descent(None, res.proven, bound)
    bound = None if res.proven else (None if res.bound is None else res.bound / theta)
    return Descent((res.best / theta, res.choice), res.proven, bound)


def fewest_gpus(ctx: Context, demand: float) -> Descent:
    """The fewest GPUs whose own-pace throughput meets `demand` tokens/s (value: -GPUs).

    Per level theta: the fewest units with sigma g T >= demand * theta (enough at any TPOT <=
    theta) is an incumbent; then the most slots T_max with fewer units than the incumbent
    bounds every cheaper deployment: it meets the demand only if TPOT <= sigma g T_max / demand,
    the next level.
    """
    theta = ctx.inst.workload.tpot_ms * 1e-3
    floor = _floor_tpot(ctx)
    g, sigma = ctx.cm.unit_gpus, ctx.sigma
    incumbent: Incumbent | None = None
    while True:
        if ctx.remaining() <= 0:
            return Descent(incumbent, False, None)
        need = math.ceil(demand * theta / (sigma * ctx.cm.unit_ranks) * (1 - 1e-12))
        try:
            incumbent, settled = _fewest_level(ctx, theta, demand, need, incumbent)
        except Expired:
            return Descent(incumbent, False, None)
        if not settled:
            return Descent(incumbent, False, None)
        cap = None if incumbent is None else int(-incumbent[0]) // g - 1
        if cap is not None and cap < 1:
            return Descent(incumbent, True, None)
        res = solve_level(ctx, theta, total=True, max_units=cap)
        if not res.proven:
            return Descent(incumbent, False, None)
        if res.best is None:
            return Descent(incumbent, True, None)
        nxt = min(res.best / demand * (1 - levels.LEVEL_STEP), theta * (1 - levels.LEVEL_STEP))
        if nxt <= floor:
            return Descent(incumbent, True, None)
        theta = nxt


def _fewest_level(
    ctx: Context, theta: float, demand: float, need: int, incumbent: Incumbent | None
) -> tuple[Incumbent | None, bool]:
    """The fewest units meeting `need` slots at level theta, each micro-batch count's program
    solved: (incumbent, settled); not settled when a program stopped short of its proof."""
    g = ctx.cm.unit_gpus
    for lay in ctx.level(theta):
        if ctx.warm_start:
            incumbent = _fewer(_fewest_candidate(ctx, lay, demand), incumbent, g)
        pruned = prune(lay, per_gpu=False, check=ctx.check)
        prob, h = dp.build(pruned, "min_units", demand_slots=need, check=ctx.check)
        sol = ctx.backend.solve(prob, max(ctx.remaining(), 1e-3))
        ctx.programs += 1
        ctx.statuses.append(sol.status)
        if sol.message:
            ctx.messages.append(sol.message)
        if sol.status == Status.OPTIMAL:
            label = f"level{ctx.levels + 1}.nbo{lay.micro_batches}.fewest"
            ctx.keep([(prob, float(sol.objective or 0.0))], label)
        if sol.status not in (Status.OPTIMAL, Status.INFEASIBLE):
            return incumbent, False
        if sol.has_values:
            found = dp.read_choice(pruned, h, sol.values)
            units = found.serving + int(pruned.ffn_units[found.layout])
            incumbent = _fewer((-float(units * g), ctx.deployment(pruned, found)), incumbent, g)
    return incumbent, True


def _fewer(new: Incumbent | None, old: Incumbent | None, unit_gpus: int) -> Incumbent | None:
    """Keep the incumbent with fewer GPUs (values are -GPUs), then the smaller deployment."""
    return _better(new, old, unit_gpus)


def _fewest_candidate(ctx: Context, lay: Layouts, demand: float) -> Incumbent | None:
    value, gpus, (idx, a, n) = ctx.own_pace(lay, total=True)
    ok = value >= demand * (1 - 1e-12)
    if not ok.any():
        return None
    score = np.where(ok, -gpus.astype(float), -np.inf)
    k = order.pick(score, candidate_keys(lay, idx, a, n))
    return -float(gpus[k]), ctx.arch.read_deployment(lay, int(idx[k]), int(a[k]), int(n[k]))
