"""Expert placement for one MoE layer (docs/model.md §14).

Problem. `E` experts with integer loads `w_e` (tokens), `P` identical ranks with
`S` expert slots each, and a budget of `R` redundant replicas. Every expert gets
at least one replica, at most one per rank, `E + R` in total (`E + R <= P S`);
each expert's tokens are split over its replicas in whole tokens. Minimise the
hottest rank's load `z`. Optionally, lexicographically after `z`, minimise the
node spread (below).

Program (`build_placement_program`), with `u` an upper bound on `z` (from a
heuristic) and `l` a lower bound (`lower_bound`):

    x[e,r] in {0,1}        replica of e on rank r
    t[e,r] in [0, u_e]     tokens of e served on r, u_e = min(w_e, u)
    z      in [l, u]       max rank load
    sum_r t[e,r] = w_e                      (tokens)
    t[e,r] <= u_e x[e,r]                    (link)
    sum_r x[e,r] >= max(1, ceil(w_e / u))   (replicas; the count bound per expert)
    sum_{e,r} x[e,r] <= E + R               (budget; spare replicas are padded with
                                             share 0 afterwards, which changes no load)
    sum_e x[e,r] <= S                       (slots)
    sum_e t[e,r] <= z                       (load)
    min z

All coefficients are integers, so HiGHS, CBC and CP-SAT solve the same model.
Ranks are identical; symmetry is broken by sorting experts by load (heaviest
first) and keeping only canonical solutions, those whose ranks are ordered by
the lowest expert index they hold: then rank 0 holds expert 0, and expert j can
sit only on ranks `0 .. j + R` (at most `j + 1 + R` replicas belong to experts
`0..j`), so `x[j,r]` for `r > j + R` is never created. With the node-spread
objective ranks on different nodes differ, so only "rank 0 holds expert 0" stays.

Scale. For 256 experts on 32 ranks the program has ~16k variables and neither
HiGHS nor CP-SAT finds a solution in a minute, so `solver.placement.place` uses it whole
only for small layers; for large ones it starts from heuristics that usually
meet the bound (then the bound proves optimality) and otherwise re-solves the
program exactly on a few ranks at a time (large-neighbourhood search).

Lower bounds live in `formulations.placement_bounds` (`lower_bound`).

Node spread (optional second objective): ranks `r` sit on node
`r // gpus_per_node`; experts belong to groups (DeepSeek-style node-limited
routing; by default every expert is its own group). The spread is the number of
(group, node) pairs holding a replica of the group, minus the number of groups:
zero when every group lives on one node, and every extra node a group touches is
one more node its tokens must cross to. Exact when the full program is solved.

This module is pure math: no I/O and no import of `solver`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from formulations.placement_bounds import lower_bound
from formulations.program import IntegerProgram

__all__ = [
    "Placement",
    "PlacementError",
    "PlacementHandles",
    "build_placement_program",
    "check_problem",
    "extract_placement",
    "lower_bound",
    "node_spread",
    "pad_replicas",
    "validate_placement",
]


class PlacementError(ValueError):
    """Placement inputs that cannot describe a valid layer."""


@dataclass(frozen=True)
class Placement:
    """Where replicas sit and how many tokens each serves.

    Attributes:
        replica: `(P, E)` bool, replica of expert e on rank r.
        tokens: `(P, E)` int, tokens of expert e served on rank r (0 without replica).
    """

    replica: np.ndarray
    tokens: np.ndarray

    @property
    def rank_loads(self) -> np.ndarray:
        """Tokens per rank, `(P,)`."""
        return self.tokens.sum(axis=1)

    @property
    def max_load(self) -> int:
        return int(self.rank_loads.max())

    @property
    def replica_counts(self) -> np.ndarray:
        """Replicas per expert, `(E,)`."""
        return self.replica.sum(axis=0)


@dataclass(frozen=True)
class PlacementHandles:
    """Variable indices of a built program, for `extract_placement`."""

    num_experts: int
    ranks: int
    replica: dict[tuple[int, int], int]
    tokens: dict[tuple[int, int], int]
    max_load: int
    spread: dict[tuple[int, int], int]


def check_problem(loads: np.ndarray, ranks: int, slots_per_rank: int, replicas: int) -> None:
    """Reject inputs no placement can satisfy, saying which rule fails."""
    loads = np.asarray(loads)
    if loads.ndim != 1 or len(loads) == 0:
        raise PlacementError("loads must be a non-empty vector, one entry per expert")
    if not np.issubdtype(loads.dtype, np.integer) or (loads < 0).any():
        raise PlacementError("loads must be non-negative whole token counts")
    if ranks < 1 or slots_per_rank < 1 or replicas < 0:
        raise PlacementError(
            f"need ranks >= 1, slots_per_rank >= 1, replicas >= 0 "
            f"(got {ranks}, {slots_per_rank}, {replicas})"
        )
    experts = len(loads)
    if experts + replicas > ranks * slots_per_rank:
        raise PlacementError(
            f"{experts} experts + {replicas} replicas do not fit {ranks} ranks x "
            f"{slots_per_rank} slots ({ranks * slots_per_rank})"
        )
    if experts + replicas > experts * ranks:
        raise PlacementError(
            f"{replicas} replicas exceed one replica per expert per rank "
            f"(at most {experts * (ranks - 1)})"
        )


# ---- the program, one function per constraint family ----


def canonical_ranks(expert: int, ranks: int, replicas: int) -> range:
    """Ranks expert `expert` (0 = heaviest) may use in a canonical solution."""
    return range(min(ranks, expert + replicas + 1))


def _group(keys: dict[tuple[int, int], int], axis: int, size: int) -> list[dict[int, int]]:
    """Unit-coefficient terms of `keys` grouped by expert (axis 0) or rank (axis 1)."""
    out: list[dict[int, int]] = [{} for _ in range(size)]
    for key, i in keys.items():
        out[key[axis]][i] = 1
    return out


def add_assignment_vars(
    prob: IntegerProgram,
    loads: np.ndarray,
    ranks: int,
    replicas: int,
    max_load_hi: int,
    canonical: bool,
) -> tuple[dict[tuple[int, int], int], dict[tuple[int, int], int]]:
    """x[e,r] and t[e,r]; rank 0 holds expert 0; canonical ranks only when asked."""
    x: dict[tuple[int, int], int] = {}
    t: dict[tuple[int, int], int] = {}
    for e, w in enumerate(loads):
        allowed = canonical_ranks(e, ranks, replicas) if canonical else range(ranks)
        cap = min(int(w), max_load_hi)
        for r in allowed:
            fixed = 1 if (e, r) == (0, 0) else 0
            x[e, r] = prob.add_var(f"x[{e},{r}]", fixed, 1)
            t[e, r] = prob.add_var(f"t[{e},{r}]", 0, cap)
    return x, t


def add_token_conservation(prob: IntegerProgram, loads: np.ndarray, t: dict) -> None:
    """Every token of expert e is served by one of its replicas."""
    for e, terms in enumerate(_group(t, 0, len(loads))):
        w = int(loads[e])
        prob.add_constraint(terms, lo=w, hi=w, family="tokens", name=f"tokens[{e}]")


def add_replica_links(prob: IntegerProgram, loads: np.ndarray, x: dict, t: dict, hi: int) -> None:
    """Tokens only where a replica sits."""
    for (e, r), ti in t.items():
        cap = min(int(loads[e]), hi)
        if cap > 0:
            prob.add_constraint({ti: 1, x[e, r]: -cap}, hi=0, family="link", name=f"link[{e},{r}]")


def add_replica_counts(
    prob: IntegerProgram, loads: np.ndarray, ranks: int, x: dict, hi: int
) -> None:
    """At least one replica each, and enough that no replica exceeds the upper bound."""
    for e, terms in enumerate(_group(x, 0, len(loads))):
        need = max(1, -(-int(loads[e]) // max(hi, 1)))
        prob.add_constraint(terms, lo=need, hi=ranks, family="replicas", name=f"replicas[{e}]")


def add_replica_budget(prob: IntegerProgram, experts: int, replicas: int, x: dict) -> None:
    """E + R replicas at most; padding fills the rest with zero-token replicas."""
    prob.add_constraint(
        {i: 1 for i in x.values()}, hi=experts + replicas, family="budget", name="budget"
    )


def add_slot_limits(prob: IntegerProgram, ranks: int, slots_per_rank: int, x: dict) -> None:
    """Memory: at most S replicas per rank."""
    for r, terms in enumerate(_group(x, 1, ranks)):
        prob.add_constraint(terms, hi=slots_per_rank, family="slots", name=f"slots[{r}]")


def add_rank_loads(prob: IntegerProgram, ranks: int, t: dict, z: int) -> None:
    """z is at least every rank's load."""
    for r, terms in enumerate(_group(t, 1, ranks)):
        prob.add_constraint({**terms, z: -1}, hi=0, family="load", name=f"load[{r}]")


def add_node_spread(
    prob: IntegerProgram, x: dict, gpus_per_node: int, groups: np.ndarray
) -> dict[tuple[int, int], int]:
    """y[g,n] >= x[e,r] for e in group g and r on node n; returns the y indices."""
    y: dict[tuple[int, int], int] = {}
    for (e, r), xi in x.items():
        key = (int(groups[e]), r // gpus_per_node)
        if key not in y:
            y[key] = prob.add_var(f"y[{key[0]},{key[1]}]", 0, 1)
        prob.add_constraint({xi: 1, y[key]: -1}, hi=0, family="spread", name=f"spread[{e},{r}]")
    return y


def build_placement_program(
    loads: np.ndarray,
    ranks: int,
    slots_per_rank: int,
    replicas: int,
    *,
    max_load_lo: int | None = None,
    max_load_hi: int | None = None,
    gpus_per_node: int | None = None,
    groups: np.ndarray | None = None,
) -> tuple[IntegerProgram, PlacementHandles]:
    """The program of the module docstring.

    Sort `loads` heaviest first: the symmetry breaking is valid in any order but
    only prunes the experts with low indices.

    Args:
        max_load_lo: a proven lower bound on z (default `lower_bound`).
        max_load_hi: a known achievable max load, e.g. a heuristic's (default W).
        gpus_per_node: add the node spread as a lexicographic second objective
            (weighted so one token of max load outweighs any spread).
        groups: expert group ids for the spread (default: one group per expert).
    """
    loads = np.asarray(loads, dtype=np.int64)
    check_problem(loads, ranks, slots_per_rank, replicas)
    lo = lower_bound(loads, ranks, slots_per_rank, replicas) if max_load_lo is None else max_load_lo
    hi = int(loads.sum()) if max_load_hi is None else max_load_hi
    prob = IntegerProgram("placement", maximize=False)
    # Nodes make ranks distinguishable, so only rank-0 fixing survives with a spread objective.
    x, t = add_assignment_vars(prob, loads, ranks, replicas, hi, canonical=not gpus_per_node)
    z = prob.add_var("max_load", lo, hi)
    add_token_conservation(prob, loads, t)
    add_replica_links(prob, loads, x, t, hi)
    add_replica_counts(prob, loads, ranks, x, hi)
    add_replica_budget(prob, len(loads), replicas, x)
    add_slot_limits(prob, ranks, slots_per_rank, x)
    add_rank_loads(prob, ranks, t, z)
    y: dict[tuple[int, int], int] = {}
    if gpus_per_node:
        group_of = np.arange(len(loads)) if groups is None else np.asarray(groups)
        y = add_node_spread(prob, x, gpus_per_node, group_of)
        weight = len(y) + 1  # any spread change is worth less than one token of max load
        prob.set_objective({z: weight, **{i: 1 for i in y.values()}})
    else:
        prob.set_objective({z: 1})
    return prob, PlacementHandles(len(loads), ranks, x, t, z, y)


def extract_placement(handles: PlacementHandles, values: list[float]) -> Placement:
    """Read x and t from a solution vector (rounded: the program is all-integer)."""
    replica = np.zeros((handles.ranks, handles.num_experts), dtype=bool)
    tokens = np.zeros((handles.ranks, handles.num_experts), dtype=np.int64)
    for (e, r), i in handles.replica.items():
        replica[r, e] = round(values[i]) == 1
    for (e, r), i in handles.tokens.items():
        tokens[r, e] = round(values[i])
    return Placement(replica | (tokens > 0), tokens)


# ---- checking and finishing a placement ----


def validate_placement(
    placement: Placement, loads: np.ndarray, ranks: int, slots_per_rank: int, replicas: int
) -> list[str]:
    """Every rule the placement breaks, recomputed from scratch (empty when valid)."""
    problems = []
    replica, tokens = placement.replica, placement.tokens
    experts = len(loads)
    if replica.shape != (ranks, experts) or tokens.shape != (ranks, experts):
        return [f"shape {replica.shape} / {tokens.shape}, expected ({ranks}, {experts})"]
    if (tokens < 0).any():
        problems.append("negative token count")
    if (tokens[~replica] != 0).any():
        problems.append("tokens on a rank without a replica")
    served = tokens.sum(axis=0)
    for e in np.flatnonzero(served != np.asarray(loads)):
        problems.append(f"expert {e}: serves {served[e]} of {loads[e]} tokens")
    counts = replica.sum(axis=0)
    for e in np.flatnonzero(counts < 1):
        problems.append(f"expert {e}: no replica")
    if counts.sum() > experts + replicas:
        problems.append(f"{counts.sum()} replicas exceed the budget {experts + replicas}")
    per_rank = replica.sum(axis=1)
    for r in np.flatnonzero(per_rank > slots_per_rank):
        problems.append(f"rank {r}: {per_rank[r]} replicas exceed {slots_per_rank} slots")
    return problems


def pad_replicas(placement: Placement, replicas: int, slots_per_rank: int) -> Placement:
    """Fill the budget to exactly E + R replicas with zero-token ones.

    Spare replicas change no load; padding makes the placement describe the
    deployed memory (E + R experts per layer). Each goes to the least-filled
    rank lacking some expert, and there to the hottest expert it lacks, where
    a later re-split would help most.
    """
    replica = placement.replica.copy()
    experts = replica.shape[1]
    heat = placement.tokens.sum(axis=0)
    missing = experts + replicas - int(replica.sum())
    fill = replica.sum(axis=1)  # kept up to date: each step costs ranks + experts, not both
    for _ in range(max(0, missing)):
        # The least-filled rank (lowest index on ties) with a free slot and some expert missing
        # (a rank holds each expert at most once, so fill < experts means one is missing).
        room = np.where((fill < slots_per_rank) & (fill < experts), fill, np.iinfo(np.int64).max)
        rank = int(np.argmin(room))
        candidates = np.flatnonzero(~replica[rank])
        replica[rank, candidates[np.argmax(heat[candidates])]] = True
        fill[rank] += 1
    return Placement(replica, placement.tokens)


def node_spread(placement: Placement, gpus_per_node: int, groups: np.ndarray | None = None) -> int:
    """(group, node) pairs holding a replica of the group, minus the groups."""
    ranks, experts = placement.replica.shape
    group_of = np.arange(experts) if groups is None else np.asarray(groups)
    r, e = np.nonzero(placement.replica)
    pairs = set(zip(group_of[e].tolist(), (r // gpus_per_node).tolist(), strict=True))
    return len(pairs) - len(set(group_of.tolist()))
