"""Lower bounds on the hottest rank's load of a placement (docs/model.md §14.2).

`lower_bound` is the max of five valid bounds (P ranks, S slots, R spare
replicas, loads w, W = sum w, E+ loaded experts):
- balance: `ceil(W / P)`;
- replica count: the least `T` with `sum_e max(1, ceil(w_e / T)) <= E + R` and
  `ceil(w_e / T) <= P` (an expert on `n` replicas has a replica of at least
  `w_e / n` tokens);
- slot fill: when loaded experts outnumber the slots of `P - 1` ranks, every
  rank holds at least `k = E+ - (P-1) S` loaded replicas. The rank holding expert
  j's largest piece (>= `ceil(w_j / n_j)`) also holds `k - 1` pieces of other
  experts, of which at most `R - (n_j - 1)` can be 1-token split pieces and the
  rest are whole experts; minimise over `n_j`, maximise over `j`;
- heavy set: for the `h` heaviest experts H with `x` extra replicas, the ranks K
  holding them number at most `k = min(P, h + x)` and carry `W_H`; the other
  ranks hold at most `(P - k) S` replicas, so the rest of the loaded experts
  spill onto K, and all but `R - x` of those (split ones) are whole. A max load
  T is impossible when some H admits no `x` with `k T >= W_H + spill`;
- room: the same spill must also find slots on K. A rank whose H piece p
  exceeds T/2 has room for at most `f(p) = min(S - 1, cnt(T - p))` whole
  experts (`cnt(r)`: how many of the smallest loads fit in r tokens). Smaller
  H pieces earn S - 1, or S when "tiny" (too small to cost a big piece's rank
  a whole expert if they share it, which frees a rank). Per expert the best
  split of its load into pieces is found exactly (`_piece_credits`), and a
  small knapsack over the replica counts n_e maximises the total.

The bounds binary-search T over a necessary condition: T is ruled out only when
the condition fails at T, so the result is valid even where the condition is
not monotone. Pure math: no I/O, no import of `solver`.
"""

from __future__ import annotations

import numpy as np

from formulations.deadline import Check, Expired, given


def balance_bound(loads: np.ndarray, ranks: int) -> int:
    """`ceil(W / P)`: perfect balance in whole tokens."""
    return -(-int(np.sum(loads)) // ranks)


def count_bound(loads: np.ndarray, ranks: int, replicas: int) -> int:
    """Least max load the replica budget allows (see the module docstring)."""
    loads = np.asarray(loads, dtype=np.int64)
    budget = len(loads) + replicas

    def fits(t: int) -> bool:
        need = np.maximum(1, -(-loads // t))
        return int(need.sum()) <= budget and int(need.max()) <= ranks

    lo, hi = 1, max(1, int(loads.max()))
    while lo < hi:
        mid = (lo + hi) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo if loads.max() > 0 else 0


def slot_fill_bound(loads: np.ndarray, ranks: int, slots_per_rank: int, replicas: int) -> int:
    """Bound from ranks forced to hold many loaded replicas (see the module docstring)."""
    positive = np.sort(np.asarray(loads, dtype=np.int64)[np.asarray(loads) > 0])
    others = len(positive) - (ranks - 1) * slots_per_rank - 1  # pieces beside the hot one
    if others < 1:
        return 0
    best = 0
    # The largest experts give the strongest bounds; a few candidates suffice.
    for j in range(len(positive) - 1, max(-1, len(positive) - 9), -1):
        rest = np.delete(positive, j)
        prefix = np.concatenate([[0], np.cumsum(rest)])
        bound_j = None
        for n in range(1, min(ranks, 1 + replicas) + 1):
            cheap = min(others, replicas - (n - 1))
            value = -(-int(positive[j]) // n) + int(prefix[others - cheap]) + cheap
            bound_j = value if bound_j is None else min(bound_j, value)
        best = max(best, int(bound_j or 0))
    return best


def _heavy_sets_allow(
    w: np.ndarray, ranks: int, slots_per_rank: int, replicas: int, t: int, check: Check | None
) -> bool:
    """False when max load `t` is impossible by the heavy-set argument (w sorted heaviest first);
    `check` is called once per block of rows."""
    check = given(check)
    need = np.maximum(1, -(-w // t))
    if need.max() > ranks or need.sum() > len(w) + replicas:
        return False
    extra = need - 1
    size = np.arange(1, len(w) + 1)  # H = the `size` heaviest experts
    extra_h = np.cumsum(extra)
    extra_rest = int(extra.sum()) - extra_h
    loaded = w > 0
    loaded_rest = int(loaded.sum()) - np.cumsum(loaded)
    smallest = np.concatenate([[0], np.cumsum(np.sort(w[loaded]))])
    # x extra replicas of H: only 0..P matter (k saturates at P), and x >= H's own need.
    prefix = np.cumsum(w)
    # Rows of H in blocks of about a million cells: the same answer, bounded memory, and a
    # `check` between blocks (E x P cells reach 16 million at the placement limit).
    step = max(1, (1 << 20) // (ranks + 1))
    for lo in range(0, len(w), step):
        check()
        rows = slice(lo, lo + step)
        x = np.maximum(np.arange(ranks + 1)[None, :], extra_h[rows, None])
        k = np.minimum(ranks, size[rows, None] + x)
        spill = loaded_rest[rows, None] - (ranks - k) * slots_per_rank
        whole = np.clip(spill - (replicas - x), 0, len(smallest) - 1)
        carried = prefix[rows, None] + smallest[whole]
        fits = (x + extra_rest[rows, None] <= replicas) & (k * t >= carried)
        if not fits.any(axis=1).all():
            return False
    return True


def _piece_credits(
    load: int, counts: np.ndarray, t: int, tiny: int, slots_per_rank: int, item_sizes: np.ndarray
) -> np.ndarray:
    """Most room credit n pieces of `load` can earn, for each n in `counts`.

    Of the n pieces, j are big (above t // 2, one per rank), u tiny (at most
    `tiny` tokens, credit S) and the rest medium (credit S - 1). A big piece
    earns c when c whole experts fit beside it, i.e. when it is at most
    `t - (sum of the c smallest loads)`: starting from j pieces of t, each
    level costs every piece the next smallest load, so spending the slack
    `j t - (load the big pieces carry)` level by level, cheapest first, is optimal.
    """
    half = t // 2
    top = int(counts.max()) + 1
    n, big, few = np.meshgrid(counts, np.arange(top), np.arange(top), indexing="ij")
    medium = n - big - few
    carried = np.maximum(load - medium * half - few * tiny, big * (half + 1))
    possible = (medium >= 0) & (carried <= big * t) & (load >= big * (half + 1))
    slack = np.where(possible, big * t - carried, 0)
    earned = np.zeros_like(slack)
    going = np.ones(slack.shape, dtype=bool)
    for size in item_sizes[: slots_per_rank - 1].tolist():  # level c costs the c-th smallest
        if size > half:  # the piece would no longer be big
            break
        raised = np.where(going, np.minimum(big, slack // max(size, 1)), 0)
        earned += raised
        slack -= raised * size
        going &= raised == big
    gain = medium * (slots_per_rank - 1) + few * slots_per_rank + earned
    return np.where(possible, gain, -np.inf).max(axis=(1, 2))


def _room_allows(
    w: np.ndarray, ranks: int, slots_per_rank: int, replicas: int, t: int, check: Check | None
) -> bool:
    """False when max load `t` is impossible by the room argument (w sorted heaviest first);
    `check` is called once per heavy expert (raises `Expired`, which `_search` turns into its
    current bound)."""
    check = given(check)
    need = np.maximum(1, -(-w // t))
    big = int((2 * w > t).sum())  # only H made of experts above t/2 can lose room
    if big == 0:
        return True
    loaded = w > 0
    item_sizes = np.sort(w[loaded])
    # Only a piece that fits where S - 1 whole experts do not can share a big
    # piece's rank without costing it a whole expert: such "tiny" pieces earn S.
    tiny = max(0, int(item_sizes[: slots_per_rank - 1].sum()) - 1)
    if slots_per_rank - 1 > len(item_sizes):
        tiny = t
    loaded_rest = int(loaded.sum()) - np.cumsum(loaded)
    extra_rest = int((need - 1).sum()) - np.cumsum(need - 1)
    width = replicas + 1  # x, the extra replicas of H, never exceeds R
    best = np.full(width, -np.inf)  # best[x]: most credit with x extra replicas of H
    best[0] = 0.0
    for e in range(big):
        check()
        counts = np.arange(int(need[e]), min(ranks, int(need[e]) + replicas) + 1)
        gains = _piece_credits(int(w[e]), counts, t, tiny, slots_per_rank, item_sizes)
        grown = np.full(width, -np.inf)
        for n, gain in zip(counts.tolist(), gains.tolist(), strict=True):
            if n - 1 < width:
                grown[n - 1 :] = np.maximum(grown[n - 1 :], best[: width - (n - 1)] + gain)
        best = grown
        x = np.arange(width)
        k = np.minimum(ranks, e + 1 + x)
        spill = loaded_rest[e] - (ranks - k) * slots_per_rank - (replicas - x)
        ok = (x + extra_rest[e] <= replicas) & (best >= spill)
        if not ok.any():
            return False
    return True


def _search(loads: np.ndarray, lo: int, hi: int | None, allows, check: Check | None = None) -> int:
    """Least T in [lo, hi] not ruled out by `allows(w, T)` (binary search, see module doc).

    Every T below `lo` is ruled out at every step, so when `check` says the time is up the
    search stops there: `lo` is still a valid (weaker) lower bound."""
    check = given(check)
    w = np.sort(np.asarray(loads, dtype=np.int64))[::-1]
    hi = max(int(w.sum()) if hi is None else hi, lo)
    while lo < hi:
        try:
            check()
        except Expired:
            return lo
        mid = max((lo + hi) // 2, 1)
        if allows(w, mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def quick_bound(
    loads: np.ndarray, ranks: int, slots_per_rank: int, replicas: int, check: Check | None = None
) -> int:
    """The balance, replica-count, slot-fill and heavy-set bounds (a few milliseconds; up to
    seconds at the largest sizes, so `check` may cut the heavy-set search short)."""
    simple = max(
        balance_bound(loads, ranks),
        count_bound(loads, ranks, replicas),
        slot_fill_bound(loads, ranks, slots_per_rank, replicas),
    )
    if slots_per_rank == 1:  # one replica per rank: the count bound is exact
        return simple
    return _search(
        loads,
        simple,
        None,
        lambda w, t: _heavy_sets_allow(w, ranks, slots_per_rank, replicas, t, check),
        check,
    )


def lower_bound(
    loads: np.ndarray,
    ranks: int,
    slots_per_rank: int,
    replicas: int,
    upper: int | None = None,
    check: Check | None = None,
) -> int:
    """All five bounds; `upper`, a max load known to be achievable, shortens the search.

    The room bound costs up to a few hundred milliseconds on 256 experts, so
    callers try `quick_bound` first and come here only when a placement misses it.
    """
    quick = quick_bound(loads, ranks, slots_per_rank, replicas, check)
    if slots_per_rank == 1 or (upper is not None and upper <= quick):
        return quick
    return _search(
        loads,
        quick,
        upper,
        lambda w, t: _room_allows(w, ranks, slots_per_rank, replicas, t, check),
        check,
    )
