"""What every part of the solver may ask of an architecture, as data (docs/model.md §11.1, §20).

An architecture's code (its stages, layouts and caps) lives in its own module
(`formulations/afd.py`, `ep.py`, `tp.py`, registered in `formulations.architectures`); this
registry holds what the rest of the program needs to know about it without importing that code:
its pools (the units a deployment holds, the result column and search field of each), its
micro-batch field and minimum, and how it uses the hardware. Code elsewhere asks these
properties and never compares an architecture's name (a test checks it), so an architecture is
one module plus its entries here and in `formulations.families`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Pool:
    """One pool of deployment units."""

    name: str
    """The key of the pool in `Deployment.nodes`."""
    column: str
    """Its units' result column and deployment-spec key (`attention_nodes`, `nodes`, ...)."""
    search_field: str
    """The Search field with its range of units."""
    symbol: str
    """How docs/model.md writes its units (N_A, N_F, N, r)."""
    serves: bool
    """Its GPUs hold sequences (the serving pool)."""
    experts: bool
    """Its GPUs hold the routed experts (the expert ranks)."""


@dataclass(frozen=True)
class ArchSpec:
    """An architecture as the rest of the solver sees it."""

    name: str
    label: str
    """How tables and verdicts name it (AFD, EP, TP)."""
    description: str
    pools: tuple[Pool, ...]
    """The serving pool first."""
    micro_batches_field: str
    min_micro_batches: int
    own_ffn_hardware: bool
    """The expert pool may run on other hardware than the serving pool, joined by a link
    (docs/model.md §17); the shared experts follow `workload.shared_experts`."""
    free_serving: bool
    """The serving units are a decision inside a layout (AFD's N_A), so the discrete-scaling
    penalty and the growth step of one more serving unit apply."""
    unit_gpus_field: str | None = None
    """The Search field that sizes one unit when the architecture sizes it itself (TP: the
    tensor-parallel size); None: the search's unit_gpus."""
    expert_ranks: bool = True
    """The routed experts are partitioned over the expert pool's GPUs, so the hottest rank's
    load (the expert imbalance, docs/model.md §8.2) and redundant replicas apply; False: every
    GPU holds a slice of every expert (TP), imbalance 1 and no replicas."""
    ranks_per_unit_gpu: bool = True
    """Every GPU of a serving unit is a data-parallel rank with its own sequences (AFD, EP);
    False: a serving unit is one rank whose GPUs share its sequences (TP)."""
    independent_units: bool = False
    """Its units share nothing (TP groups): r units are r copies of one unit, so fleet sizing
    prices one unit and buys copies (docs/model.md §18.1, §20.1)."""
    units_text: str = ""
    """Its units in words, a format over its pool columns (and `tensor_parallel`)."""
    colour: str = "tab:gray"
    """Its colour in plots (matplotlib names)."""
    hatch: str | None = None
    """Its hatch in bar plots."""
    engine: str = "data-parallel"
    """How serving engines run it: "data-parallel" (DP attention + EP), "disaggregated" (no
    engine flag: a manifest), "tensor-parallel"."""

    @property
    def serving(self) -> Pool:
        return self.pools[0]

    @property
    def expert_pool(self) -> Pool:
        return next(p for p in self.pools if p.experts)

    @property
    def columns(self) -> tuple[str, ...]:
        """The deployment-spec keys of its units."""
        return tuple(p.column for p in self.pools)


AFD = ArchSpec(
    name="afd",
    label="AFD",
    description="Attention-FFN Disaggregation: attention and expert pools of whole nodes",
    pools=(
        Pool("attention", "attention_nodes", "attention_nodes", "N_A", serves=True, experts=False),
        Pool("ffn", "ffn_nodes", "ffn_nodes", "N_F", serves=False, experts=True),
    ),
    micro_batches_field="afd_micro_batches",
    min_micro_batches=3,
    own_ffn_hardware=True,
    free_serving=True,
    units_text="{attention_nodes} attention + {ffn_nodes} FFN nodes",
    colour="tab:blue",
    hatch="//",
    engine="disaggregated",
)
EP = ArchSpec(
    name="ep",
    label="EP",
    description="large-scale Expert Parallelism: every GPU runs attention and holds experts",
    pools=(Pool("ep", "nodes", "nodes", "N", serves=True, experts=True),),
    micro_batches_field="ep_micro_batches",
    min_micro_batches=1,
    own_ffn_hardware=False,
    free_serving=False,
    units_text="{nodes} nodes",
    colour="tab:orange",
)
TP = ArchSpec(
    name="tp",
    label="TP",
    description="tensor parallelism inside one scale-up domain, in r independent groups",
    pools=(Pool("tp", "tp_groups", "tp_groups", "r", serves=True, experts=True),),
    micro_batches_field="tp_micro_batches",
    min_micro_batches=1,
    own_ffn_hardware=False,
    free_serving=False,
    unit_gpus_field="tensor_parallel",
    expert_ranks=False,
    ranks_per_unit_gpu=False,
    independent_units=True,
    units_text="{tp_groups} group(s) of {tensor_parallel} GPUs",
    colour="tab:green",
    hatch="..",
    engine="tensor-parallel",
)

SPECS: dict[str, ArchSpec] = {s.name: s for s in (AFD, EP, TP)}
"""Every architecture, in the order tables and verdicts list them."""
NAMES: tuple[str, ...] = tuple(SPECS)


def get(name: str) -> ArchSpec:
    """The spec of architecture `name`; ValueError names the known ones."""
    try:
        return SPECS[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(SPECS)}") from None


def label(name: str) -> str:
    """AFD, EP, TP (or the name upper-cased for an unknown one)."""
    spec = SPECS.get(name)
    return spec.label if spec else str(name).upper()


POOL_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(p.column for spec in SPECS.values() for p in spec.pools)
)
"""Every architecture's pool columns (each a result column and a deployment-spec key)."""


UNIT_GPUS_COLUMN = "tensor_parallel"
"""The column of a unit's GPUs where the architecture sizes its unit (`unit_gpus_field`)."""


def unit_cells(d: Any) -> dict[str, int | None]:
    """A deployment's units under every pool column (None where its architecture has no such
    pool) and its unit size under UNIT_GPUS_COLUMN (None unless the architecture sizes its
    unit); `d` is a `formulations.types.Deployment`."""
    spec = get(d.architecture)
    return (
        {c: None for c in POOL_COLUMNS}
        | {p.column: d.pool(p.name) for p in spec.pools}
        | {UNIT_GPUS_COLUMN: d.unit_gpus if spec.unit_gpus_field else None}
    )


def deployment_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """`Deployment` keyword arguments `nodes` and `unit_gpus` from a row's unit cells."""
    spec = get(str(record["architecture"]))
    size = record.get(UNIT_GPUS_COLUMN) if spec.unit_gpus_field else None
    return {
        "nodes": tuple((p.name, int(record[p.column])) for p in spec.pools),
        "unit_gpus": None if size is None else int(size),
    }


def units_symbols(record: Mapping[str, Any]) -> str:
    """A result row's units as docs/model.md writes them, e.g. `N_A=2 N_F=3`, or `t=8 r=2`
    where the architecture sizes its unit."""
    spec = get(str(record["architecture"]))
    pools = [f"{p.symbol}={record.get(p.column)}" for p in spec.pools]
    if spec.unit_gpus_field:
        pools.insert(0, f"t={record.get(UNIT_GPUS_COLUMN)}")
    return " ".join(pools)


def units_text(record: Mapping[str, Any]) -> str:
    """A result row's units in words, e.g. `2 attention + 3 FFN nodes` (its pool columns)."""
    spec = get(str(record["architecture"]))
    return spec.units_text.format_map(defaultdict(lambda: "?", record))
