"""The one registry of result columns: name, type, table header and format.

`solve` and `evaluate` rows (`solver.rows`), the human table (`solver.report`), the TPOT
frontier (`solver.analysis.pareto`) and fleet plans (`solver.sizing.tables`) read their columns
here, so a column is declared once. The contract columns of `solve --format json|csv` are
`RESULT`, in order; keys are only ever appended.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from formulations import archspec


@dataclass(frozen=True)
class Column:
    """One result column."""

    name: str
    kind: type
    """int, float or str (counts stay integers in tables)."""
    header: str = ""
    """Its header in the human table ("": not shown there)."""
    fmt: str = "{}"


_ALL = (
    Column("instance", str, "instance"),
    Column("architecture", str, "arch"),
    Column("status", str, "status"),
    Column("attention_nodes", int, "N_A", "{:.0f}"),
    Column("ffn_nodes", int, "N_F", "{:.0f}"),
    Column("nodes", int, "nodes", "{:.0f}"),
    Column("tp_groups", int, "", "{:.0f}"),
    Column("tensor_parallel", int, "t", "{:.0f}"),
    Column("gpus", int, "GPUs", "{:.0f}"),
    Column("sequences_per_gpu", int, "n/GPU", "{:.0f}"),
    Column("micro_batches", int, "N_BO", "{:.0f}"),
    Column("micro_batch_size", int, "b", "{:.0f}"),
    Column("tokens_per_s_per_gpu", float, "tok/s/GPU", "{:,.0f}"),
    Column("tokens_per_s", float, "tok/s", "{:,.0f}"),
    Column("tpot_ms", float, "TPOT ms", "{:.1f}"),
    Column("ffn_hfu", float, "FFN HFU", "{:.1%}"),
    Column("ffn_ofu", float, "FFN OFU", "{:.1%}"),
    Column("temporal_sparsity", float, "S_t", "{:.1%}"),
    Column("discrete_penalty", float, "penalty", "{:.2%}"),
    Column("solve_s", float, "solve s", "{:.3f}"),
    Column("binding", str),
    Column("objective", float, "", "{:,.0f}"),
    Column("backend", str),
    Column("expert_imbalance", float),
    Column("redundant_experts", int),
    Column("imbalance_loss", float),
    Column("attention_hardware", str),
    Column("ffn_hardware", str),
    # pareto
    Column("tokens_per_s_per_user", float),
    Column("target_from_ms", float),
    Column("target_to_ms", float),
    # fleet plans
    Column("workload", str),
    Column("replicas", int),
    Column("cost_per_hour", float),
)
BY_NAME: dict[str, Column] = {c.name: c for c in _ALL}

RESULT = (
    "architecture",
    "status",
    "attention_nodes",
    "ffn_nodes",
    "nodes",
    "gpus",
    "sequences_per_gpu",
    "micro_batches",
    "tokens_per_s_per_gpu",
    "tokens_per_s",
    "tpot_ms",
    "ffn_hfu",
    "ffn_ofu",
    "temporal_sparsity",
    "binding",
    "discrete_penalty",
    "objective",
    "backend",
    "solve_s",
    "expert_imbalance",
    "redundant_experts",
    "imbalance_loss",
    "micro_batch_size",
    "attention_hardware",
    "ffn_hardware",
    "tp_groups",
    "tensor_parallel",
)
"""The columns of a `solve` or `evaluate` row, in order (README "Commands")."""

TABLE = (
    "instance",
    "architecture",
    "status",
    "attention_nodes",
    "ffn_nodes",
    "nodes",
    "tensor_parallel",
    "gpus",
    "sequences_per_gpu",
    "micro_batches",
    "micro_batch_size",
    "tokens_per_s_per_gpu",
    "tokens_per_s",
    "tpot_ms",
    "ffn_hfu",
    "ffn_ofu",
    "temporal_sparsity",
    "discrete_penalty",
    "solve_s",
)
"""The human table's columns, in order (a column only shows when some row has a value)."""


def integers(names: tuple[str, ...] | list[str]) -> list[str]:
    """The integer columns among `names` (a DataFrame keeps them as nullable integers)."""
    return [n for n in names if n in BY_NAME and BY_NAME[n].kind is int]


def typed(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with its integer columns as nullable integers (a count stays 3, not 3.0)."""
    return df.astype({c: "Int64" for c in integers(list(df.columns))})


def pool_columns() -> tuple[str, ...]:
    """Every architecture's pool columns (each a deployment-spec key and a result column)."""
    return archspec.POOL_COLUMNS


def _check() -> None:
    missing = [c for c in (*RESULT, *TABLE, *pool_columns()) if c not in BY_NAME]
    if missing:  # a programming error: every column is declared above
        raise AssertionError(f"undeclared result columns: {missing}")


_check()
