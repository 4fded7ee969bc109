"""The fleet program's data from the candidates: every workload's deployments as `Candidate`s.

A candidate is one frontier row of the workload's class (`solver.sizing.candidates`) with its
GPUs counted per hardware: a mixed AFD deployment spends its attention GPUs on one hardware and
its FFN GPUs on the other (docs/model.md §17, §18.1).
"""

from __future__ import annotations

from typing import Any

from formulations.fleet import Candidate, FleetProblem, Pool
from solver.io.fleet import Fleet
from solver.sizing.candidates import Frontier, Pairing
from solver.sizing.tables import Offer


def pool_gpus(p: Pairing, row: dict[str, Any]) -> tuple[tuple[str, int], ...]:
    if p.attention_hardware == p.ffn_hardware:
        return ((p.attention_hardware, int(row["gpus"])),)
    return ((p.attention_hardware, row["attention_gpus"]), (p.ffn_hardware, row["ffn_gpus"]))


def _own_rows(fr: Frontier, demand: float) -> list[dict[str, Any]]:
    """The rows of a frontier one workload needs (docs/model.md §18.1): every row below its
    demand, and of the rows that cover it those no other covering row beats on every pool
    (covering, they all count as the demand, so only their GPUs differ)."""
    below = [r for r in fr.rows if r["tokens_per_s"] < demand]
    covering: list[dict[str, Any]] = []
    for r in sorted(
        (r for r in fr.rows if r["tokens_per_s"] >= demand),
        key=lambda r: (r["gpus"], r["attention_gpus"]),
    ):
        g = pool_gpus(fr.pairing, r)
        if not any(all(a <= b for (_, a), (_, b) in zip(pool_gpus(fr.pairing, k), g, strict=True))
                   for k in covering):  # fmt: skip
            covering.append(r)
    return below + covering


def build_problem(
    fleet: Fleet, frontiers: dict[int, list[Frontier]], classes: dict[int, list[int]]
) -> tuple[FleetProblem, list[Offer], dict[int, list[str]]]:
    """The fleet program's data, what each candidate is, and why workloads have none.

    Each workload gets its class's frontier rows below its own demand and the covering rows
    no other covering row beats on every pool (`_own_rows`).
    """
    pools = tuple(Pool(h.name, h.price_per_gpu_hour, h.inventory_gpus) for h in fleet.hardware)
    candidates: list[Candidate] = []
    offers: list[Offer] = []
    reasons: dict[int, list[str]] = {}
    for c, members in classes.items():
        for w in members:
            demand = fleet.workloads[w].demand_tokens_per_s
            count = len(candidates)
            for fr in frontiers[c]:
                for row in _own_rows(fr, demand):
                    candidates.append(
                        Candidate(
                            w,
                            float(row["tokens_per_s"]),
                            pool_gpus(fr.pairing, row),
                            fr.pairing.architecture,
                        )
                    )
                    offers.append(Offer(w, fr.pairing, row))
            if len(candidates) == count:
                reasons[w] = [
                    f"{f.pairing.label} {f.pairing.architecture}: {f.reason}" for f in frontiers[c]
                ]
    demands = tuple(w.demand_tokens_per_s for w in fleet.workloads)
    return FleetProblem(demands, pools, tuple(candidates)), offers, reasons
