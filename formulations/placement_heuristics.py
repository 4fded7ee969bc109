"""Heuristics around the placement program (docs/model.md §14).

- `greedy_placement`: the usual baseline, implemented from its description, so
  reports can show what the exact program buys over it.
- Starts for the program: `wrap_around` (McNaughton's rule, perfect balance when
  replicas and slots allow it) and `lpt_placement`; `refine` improves any start
  by alternating `rebalance_tokens` (`formulations.placement_split`: the optimal
  token split on fixed replicas) and `improve_by_moves` (relocate/swap replicas
  off the hottest rank).
- `restrict` / `merge`: cut a few ranks out of a placement as a smaller
  placement problem (large-neighbourhood search with the exact program) and put
  the answer back; `order_ranks_by_node` lowers the node spread for free.

Kept apart from `formulations.placement` (the program and validator) to keep
both modules short. Pure math: no I/O, no import of `solver`.
"""

from __future__ import annotations

import bisect
import heapq

import numpy as np

from formulations.deadline import Check, Expired, given
from formulations.placement import Placement, node_spread, validate_placement
from formulations.placement_split import rebalance_tokens

_INF = 1 << 62


# ---- the greedy baseline ----


def greedy_replica_counts(loads: np.ndarray, ranks: int, replicas: int) -> np.ndarray:
    """Give each spare replica to the expert with the highest load per replica."""
    counts = np.ones(len(loads), dtype=np.int64)
    heap = [(-float(w), e) for e, w in enumerate(loads)]
    heapq.heapify(heap)
    left = replicas
    while left > 0 and heap:
        _, e = heapq.heappop(heap)
        if counts[e] >= ranks:
            continue  # one replica per rank at most; this expert is saturated
        counts[e] += 1
        left -= 1
        heapq.heappush(heap, (-float(loads[e]) / counts[e], e))
    return counts


def even_pieces(load: int, count: int) -> list[int]:
    """`load` tokens in `count` whole pieces differing by at most one token."""
    q, extra = divmod(int(load), int(count))
    return [q + 1] * extra + [q] * (count - extra)


def _pieces(loads: np.ndarray, counts: np.ndarray) -> list[tuple[int, int]]:
    """(tokens, expert) for every replica, largest first, an expert's pieces together."""
    out = [(p, e) for e in range(len(loads)) for p in even_pieces(loads[e], counts[e])]
    return sorted(out, key=lambda pe: (-pe[0], pe[1]))


def _lpt(
    pieces: list[tuple[int, int]], ranks: int, experts: int, caps: np.ndarray, equal_counts: bool
) -> Placement:
    """Each piece to the least-loaded rank with room that lacks its expert.

    With `equal_counts`, ranks hold floor(N/P) pieces and `N mod P` of them one
    more. When every rank with room already holds the expert, one piece moves
    to make room; should even that fail, the equal-count rule yields to the
    slot limit.
    """
    replica = np.zeros((ranks, experts), dtype=bool)
    tokens = np.zeros((ranks, experts), dtype=np.int64)
    load = np.zeros(ranks, dtype=np.int64)
    count = np.zeros(ranks, dtype=np.int64)
    base, extra = divmod(len(pieces), ranks)
    for size, e in pieces:
        if equal_counts:  # done at base + 1, or at base once `extra` ranks took one more
            full = (count > base) | ((count == base) & (int((count > base).sum()) >= extra))
        else:
            full = count >= caps
        allowed = ~full & ~replica[:, e]
        if not allowed.any():
            _make_room(replica, tokens, count, full, e)
            allowed = ~full & ~replica[:, e]
        if not allowed.any():
            allowed = ~replica[:, e] & (count < caps)
        r = int(np.flatnonzero(allowed)[np.argmin(load[allowed])])
        replica[r, e] = True
        tokens[r, e] = size
        load[r] += size
        count[r] += 1
    return Placement(replica, tokens)


def _make_room(
    replica: np.ndarray, tokens: np.ndarray, count: np.ndarray, full: np.ndarray, expert: int
) -> None:
    """Free a slot on a rank lacking `expert` by moving one piece to an open rank."""
    for src in np.flatnonzero(full & ~replica[:, expert]):
        for dst in np.flatnonzero(~full & replica[:, expert]):
            movable = np.flatnonzero(replica[src] & ~replica[dst])
            if len(movable):
                f = int(movable[0])
                replica[dst, f], tokens[dst, f] = True, tokens[src, f]
                replica[src, f], tokens[src, f] = False, 0
                count[src] -= 1
                count[dst] += 1
                full[src] = False
                return


def greedy_placement(
    loads: np.ndarray, ranks: int, slots_per_rank: int, replicas: int
) -> Placement:
    """The baseline: replicate by load per replica, then balanced LPT with equal counts.

    Every replica carries `load / n_e` of its expert, rounded to whole tokens
    (pieces differ by at most one), so the result is comparable with the program's.
    """
    counts = greedy_replica_counts(loads, ranks, replicas)
    caps = np.full(ranks, slots_per_rank)
    return _lpt(_pieces(loads, counts), ranks, len(loads), caps, equal_counts=True)


def lpt_placement(
    loads: np.ndarray, counts: np.ndarray, ranks: int, slots_per_rank: int
) -> Placement:
    """LPT of even pieces with only the slot limit (rank counts may differ)."""
    caps = np.full(ranks, slots_per_rank)
    return _lpt(_pieces(loads, counts), ranks, len(loads), caps, equal_counts=False)


# ---- relocate / swap moves ----


def _best_move(pl_replica, tokens, load, count, slots_per_rank):
    """The move off the hottest rank that leaves the two ranks most balanced, or None.

    A move sends a loaded replica (e, t) from the hottest rank a to a rank b
    lacking e, in exchange for one replica (f, u < t) of b that a lacks, or for
    nothing when b has a free slot.
    """
    a = int(np.argmax(load))
    top = int(load[a])
    mine = np.flatnonzero(tokens[a] > 0)
    if len(mine) == 0:
        return None
    # Partners: every replica elsewhere, plus one empty slot per rank with room.
    rb, fb = np.nonzero(pl_replica)
    keep = (rb != a) & ~pl_replica[a, fb]
    rb, fb = rb[keep], fb[keep]
    ub = tokens[rb, fb]
    free = np.flatnonzero((count < slots_per_rank) & (np.arange(len(load)) != a))
    rb = np.concatenate([rb, free])
    fb = np.concatenate([fb, np.full(len(free), -1)])
    ub = np.concatenate([ub, np.zeros(len(free), dtype=np.int64)])
    delta = tokens[a, mine][:, None] - ub[None, :]
    new_b = load[rb][None, :] + delta
    ok = (delta > 0) & (new_b < top) & ~pl_replica[rb[None, :], mine[:, None]]
    if not ok.any():
        return None
    score = np.where(ok, np.maximum(top - delta, new_b), _INF)
    i, j = np.unravel_index(int(np.argmin(score)), score.shape)
    return a, int(mine[i]), int(rb[j]), int(fb[j])


def improve_by_moves(
    placement: Placement, slots_per_rank: int, max_moves: int = 2000, check: Check | None = None
) -> Placement:
    """Relocate/swap whole replicas off the hottest rank while that lowers it.

    Each move strictly lowers the hottest rank without lifting the other rank to
    its level, so the (max load, ranks at max) pair falls and the loop ends. Every
    intermediate placement is valid: when `check` says the time is up, the moves stop.
    """
    check = given(check)
    replica, tokens = placement.replica.copy(), placement.tokens.copy()
    load = tokens.sum(axis=1)
    count = replica.sum(axis=1)
    for _ in range(max_moves):
        try:
            check()
        except Expired:
            break
        move = _best_move(replica, tokens, load, count, slots_per_rank)
        if move is None:
            break
        a, e, b, f = move
        t = tokens[a, e]
        replica[a, e], tokens[a, e] = False, 0
        replica[b, e], tokens[b, e] = True, t
        load[a] -= t
        load[b] += t
        if f >= 0:
            u = tokens[b, f]
            replica[b, f], tokens[b, f] = False, 0
            replica[a, f], tokens[a, f] = True, u
            load[a] += u
            load[b] -= u
        else:
            count[a] -= 1
            count[b] += 1
    return Placement(replica, tokens)


# ---- starts and finishing ----


def wrap_around(
    loads: np.ndarray,
    ranks: int,
    slots_per_rank: int,
    replicas: int,
    target: int,
    rng: np.random.Generator | None = None,
    check: Check | None = None,
) -> Placement | None:
    """McNaughton's rule with balanced counts: fill ranks to `target` in turn.

    Each rank first takes the piece carried over from the previous one, then
    whole experts sized about (room left / pieces left) so every rank gets about
    its share of the replicas, and closes by splitting the smallest expert that
    covers the rest of its room (the remainder is carried on). Perfect balance
    whenever it fits the slots and the budget (at most P - 1 splits); None when
    a rule breaks. With `rng`, whole experts are picked near (not at) the ideal
    size, for repeated tries. `check` is called once per rank (raises `Expired`).
    """
    check = given(check)
    experts = len(loads)
    replica = np.zeros((ranks, experts), dtype=bool)
    tokens = np.zeros((ranks, experts), dtype=np.int64)
    items = sorted((int(w), e) for e, w in enumerate(loads))
    carry: tuple[int, int] | None = None
    for r in range(ranks):
        check()
        room, used = target, 0
        if carry is not None:
            left, e = carry
            take = min(left, room)
            replica[r, e], tokens[r, e] = True, take
            room, used, carry = room - take, 1, ((left - take, e) if left > take else None)
        if room == target and items and items[-1][0] >= target:
            left, e = items.pop()  # an expert filling whole ranks: McNaughton's rule
            replica[r, e], tokens[r, e] = True, target
            carry = (left - target, e) if left > target else None
            continue
        # Ranks that experts heavier than `target` will fill alone hold no small ones.
        busy = sum(w // target for w, _ in items[-ranks:]) + (carry[0] // target if carry else 0)
        share = max(1, -(-len(items) // max(1, ranks - r - busy)))
        while items and used < slots_per_rank and (room > 0 or items[0][0] == 0):
            pieces_left = max(1, min(share, slots_per_rank - used))
            if pieces_left == 1:  # close the rank: split the smallest expert covering the room
                k = bisect.bisect_left(items, (room, -1))
                left, e = items.pop(min(k, len(items) - 1))
            else:
                k = bisect.bisect_left(items, (room // pieces_left, -1))
                if rng is not None:  # another try: a neighbour of the ideal size
                    k += int(rng.integers(-2, 3))
                k = min(max(k, 0), len(items) - 1)
                while k > 0 and items[k][0] > room:
                    k -= 1
                left, e = items.pop(k)
            take = min(left, room)
            replica[r, e], tokens[r, e] = True, take
            room, used, share = room - take, used + 1, share - 1
            if left > take:
                carry = (left - take, e)
                break
    if items or carry is not None:
        return None
    pl = Placement(replica, tokens)
    if pl.max_load > target or validate_placement(pl, loads, ranks, slots_per_rank, replicas):
        return None
    return pl


def refine(
    loads: np.ndarray,
    placement: Placement,
    bound: int,
    slots_per_rank: int,
    check: Check | None = None,
) -> Placement:
    """Alternate the optimal token split and replica moves until neither helps (or `check`
    says the time is up: every round's placement is valid)."""
    check = given(check)
    best = rebalance_tokens(loads, placement.replica, bound)
    while best.max_load > bound:
        try:
            check()
        except Expired:
            break
        moved = improve_by_moves(best, slots_per_rank, check=check)
        split = rebalance_tokens(loads, moved.replica, bound)
        if placement_score(split) >= placement_score(best):
            break
        best = split
    return best


def placement_score(pl: Placement) -> tuple[int, int]:
    """Max load, then how many ranks carry it (lower is better)."""
    loads = pl.rank_loads
    top = int(loads.max())
    return top, int((loads == top).sum())


def order_ranks_by_node(pl: Placement, gpus_per_node: int, groups: np.ndarray | None) -> Placement:
    """Permute ranks (they are identical) so ranks sharing expert groups share nodes.

    Greedy: each node starts from the free rank with the most replicas of split
    groups and adds the free rank sharing the most groups with it. Loads are
    unchanged; only the node spread falls.
    """
    ranks, experts = pl.replica.shape
    group_of = np.arange(experts) if groups is None else np.asarray(groups)
    member = np.zeros((ranks, int(group_of.max()) + 1), dtype=np.int64)
    for r, e in zip(*np.nonzero(pl.replica), strict=True):
        member[r, group_of[e]] = 1
    shared = member @ member.T
    free = np.ones(ranks, dtype=bool)
    order: list[int] = []
    while free.any():
        cand = np.flatnonzero(free)
        node = [int(cand[np.argmax(shared[cand].sum(axis=1) - shared[cand, cand])])]
        free[node[0]] = False
        while len(node) < gpus_per_node and free.any():
            cand = np.flatnonzero(free)
            nxt = int(cand[np.argmax(shared[np.ix_(cand, np.array(node))].sum(axis=1))])
            node.append(nxt)
            free[nxt] = False
        order.extend(node)
    out = Placement(pl.replica[order], pl.tokens[order])
    better = node_spread(out, gpus_per_node, groups) <= node_spread(pl, gpus_per_node, groups)
    return out if better else pl


# ---- neighbourhoods for the exact program ----


def restrict(placement: Placement, rank_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The placement problem on `rank_ids` alone.

    Returns:
        (loads, experts, replicas): tokens each present expert serves on those
        ranks (heaviest first), the experts' global ids, and the spare replicas.
    """
    rows_replica = placement.replica[rank_ids]
    experts = np.flatnonzero(rows_replica.any(axis=0))
    sub_loads = placement.tokens[rank_ids][:, experts].sum(axis=0)
    order = np.argsort(-sub_loads, kind="stable")
    spare = int(rows_replica.sum()) - len(experts)
    return sub_loads[order], experts[order], spare


def merge(
    placement: Placement, rank_ids: np.ndarray, experts: np.ndarray, sub: Placement
) -> Placement:
    """`placement` with ranks `rank_ids` replaced by `sub` (on `experts`)."""
    replica, tokens = placement.replica.copy(), placement.tokens.copy()
    replica[rank_ids] = False
    tokens[rank_ids] = 0
    replica[np.ix_(rank_ids, experts)] = sub.replica
    tokens[np.ix_(rank_ids, experts)] = sub.tokens
    return Placement(replica, tokens)
