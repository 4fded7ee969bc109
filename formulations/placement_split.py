"""The optimal token split on fixed replicas (docs/model.md §14.1).

Once replicas are placed, splitting each expert's tokens over its replicas to
minimise the hottest rank is a transportation problem: max load T is reachable
iff a max-flow from experts (capacity w_e) through their replicas to ranks
(capacity T) carries every token. A binary search on T finds the least one;
integral capacities give a split in whole tokens. Experts with one replica
have no choice and only use up their rank's capacity, so the network holds just
the replicated experts (a few dozen), which makes a split cost milliseconds.

Pure math: no I/O, no import of `solver`.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from formulations.placement import Placement

_INF = 1 << 62


class _Network:
    """A small max-flow network (Dinic's algorithm) on integer capacities."""

    def __init__(self, nodes: int) -> None:
        self.head: list[list[int]] = [[] for _ in range(nodes)]
        self.to: list[int] = []
        self.cap: list[int] = []

    def add(self, u: int, v: int, cap: int) -> int:
        self.head[u].append(len(self.to))
        self.to.append(v)
        self.cap.append(cap)
        self.head[v].append(len(self.to))
        self.to.append(u)
        self.cap.append(0)
        return len(self.to) - 2

    def _levels(self, s: int, t: int) -> list[int] | None:
        level = [-1] * len(self.head)
        level[s] = 0
        queue = deque([s])
        while queue:
            u = queue.popleft()
            for e in self.head[u]:
                v = self.to[e]
                if self.cap[e] > 0 and level[v] < 0:
                    level[v] = level[u] + 1
                    queue.append(v)
        return level if level[t] >= 0 else None

    def max_flow(self, s: int, t: int) -> int:
        total = 0
        while (level := self._levels(s, t)) is not None:
            nxt = [0] * len(self.head)
            while (pushed := self._augment(s, t, level, nxt)) > 0:
                total += pushed
        return total

    def _augment(self, s: int, t: int, level: list[int], nxt: list[int]) -> int:
        """One augmenting path in the level graph (iterative DFS with edge pointers)."""
        stack: list[int] = [s]
        path: list[int] = []  # edge ids along the stack
        while stack:
            u = stack[-1]
            if u == t:
                push = min(self.cap[e] for e in path)
                for e in path:
                    self.cap[e] -= push
                    self.cap[e ^ 1] += push
                return push
            edges = self.head[u]
            while nxt[u] < len(edges):
                e = edges[nxt[u]]
                if self.cap[e] > 0 and level[self.to[e]] == level[u] + 1:
                    break
                nxt[u] += 1
            if nxt[u] < len(edges):
                e = edges[nxt[u]]
                stack.append(self.to[e])
                path.append(e)
            else:
                stack.pop()
                level[u] = -1  # dead end for this phase
                if path:
                    path.pop()
                    nxt[stack[-1]] += 1
        return 0


def _fixed_tokens(loads: np.ndarray, replica: np.ndarray) -> np.ndarray:
    """Tokens `(P, E)` of experts with a single replica: they have no choice."""
    single = replica.sum(axis=0) == 1
    return np.where(replica & single[None, :], loads[None, :], 0)


def _split_at(
    loads: np.ndarray, replica: np.ndarray, fixed: np.ndarray, max_load: int
) -> np.ndarray | None:
    """Tokens `(P, E)` with every rank at most `max_load`, or None if impossible.

    Only experts with several replicas enter the flow network; single-replica
    experts just use up their rank's capacity.
    """
    ranks, experts = replica.shape
    room = max_load - fixed.sum(axis=1)
    if (room < 0).any():
        return None
    split = np.flatnonzero((replica.sum(axis=0) > 1) & (loads > 0))
    net = _Network(len(split) + ranks + 2)
    src, sink = len(split) + ranks, len(split) + ranks + 1
    arcs: dict[tuple[int, int], int] = {}
    for node, expert in enumerate(split.tolist()):
        net.add(src, node, int(loads[expert]))
        for rank in np.flatnonzero(replica[:, expert]).tolist():
            arcs[rank, expert] = net.add(node, len(split) + rank, _INF)
    for rank in range(ranks):
        net.add(len(split) + rank, sink, int(room[rank]))
    if net.max_flow(src, sink) < int(loads[split].sum()):
        return None
    tokens = fixed.copy()
    for (rank, expert), arc in arcs.items():
        tokens[rank, expert] = net.cap[arc ^ 1]
    return tokens


def rebalance_tokens(loads: np.ndarray, replica: np.ndarray, lower: int = 0) -> Placement:
    """The min-max token split on fixed replicas (binary search on max-flow feasibility).

    Integral capacities give an integral flow, so the split is in whole tokens.
    """
    loads = np.asarray(loads, dtype=np.int64)
    if (replica.sum(axis=0)[loads > 0] == 0).any():
        raise ValueError("some expert with load has no replica")
    fixed = _fixed_tokens(loads, replica)
    hi = int(loads.sum())
    best = _split_at(loads, replica, fixed, hi)
    assert best is not None  # every loaded expert has a replica and no rank is capped
    hi = int(best.sum(axis=1).max())
    balance = -(-int(loads.sum()) // replica.shape[0])
    lo = max(lower, balance, int(fixed.sum(axis=1).max()))
    while lo < hi:
        mid = (lo + hi) // 2
        tokens = _split_at(loads, replica, fixed, mid)
        if tokens is None:
            lo = mid + 1
        else:
            best, hi = tokens, int(tokens.sum(axis=1).max())
    return Placement(replica.copy(), best)
