"""Regenerate the analysis' results from the shipped instances (`afd-solver reproduce`).

Every result is one `Step`: a name, a line of help, and a function that writes its
files into the output directory and returns their paths. `STEPS` lists them in run
order; a new result (e.g. the imbalance retention curves of docs/model.md §8.4,
AFD vs EP) is one more `Step` appended to it, here or from a module imported here,
and the CLI picks it up (`--only NAME` runs a subset).

All steps use the paper profile and the standard workload of
`instances/deepseek-v3-h800.toml` (TPOT 50 ms, MTP 1.7, 15 ms gap, 4096-token
context, units of 8 GPUs), with N_F = 1..64.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from formulations import closed_forms as cf
from formulations.costs import CostModel
from formulations.types import Instance
from solver.errors import InputError
from solver.io.loader import SHIPPED, load_instance
from solver.io.outputs import check_out_dir, replacing

STANDARD_INSTANCE = SHIPPED / "deepseek-v3-h800.toml"
FFN_NODES = list(range(1, 65))
MODELS = (
    "deepseek-v3",
    "kimi-k2",
    "step3",
    "qwen3-coder-480b-a35b",
    "ernie-4.5-300b-a47b",
    "glm-4.7",
)
HARDWARE = ("h20", "h100", "h200", "h800", "b200", "b300", "gb200-nvl72", "gb300-nvl72")
FFN_REGIME_COLUMNS = (
    "ffn_nodes",
    "experts_per_gpu",
    "tokens_per_rank",
    "intensity_continuous",
    "intensity_discrete",
    "hfu",
    "regime",
)
HFU_CEILING_COLUMNS = ("model", "hardware", "hfu", "best_ffn_nodes", "limited_by")
DEFAULT_OUT_DIR = "reproduce"


@dataclass(frozen=True)
class Step:
    """One reproduced result: `run(out_dir)` writes its files and returns their paths."""

    name: str
    help: str
    run: Callable[[Path], list[Path]]
    outputs: tuple[str, ...] = ()
    """File names it writes in the output directory (checked before any step runs)."""


def standard_instance(model: str = "deepseek-v3", hardware: str = "h800") -> Instance:
    """The standard workload and paper profile with another model or platform."""
    return load_instance(STANDARD_INSTANCE, {"model": model, "hardware": hardware})


def _write_csv(df: pd.DataFrame, path: Path) -> Path:
    # Fixed float format: reruns write byte-identical files (diffable results).
    with replacing(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.10g")
    return path


# ---- (a) FFN regimes of DeepSeek-V3 on H800 -------------------------------------------------


def ffn_regimes_table(inst: Instance | None = None) -> pd.DataFrame:
    """The FFN side at its wire limit for N_F = 1..64 (docs/model.md §13.1)."""
    cm = CostModel.of(inst or standard_instance())
    rows = [asdict(p) for p in cf.ffn_regimes(cm, FFN_NODES)]
    return pd.DataFrame(rows, columns=list(FFN_REGIME_COLUMNS))


def ffn_regimes_step(out_dir: Path) -> list[Path]:
    from solver.analysis import reproduce_plots as plots

    df = ffn_regimes_table()
    return [
        _write_csv(df, out_dir / "ffn_regimes.csv"),
        plots.plot_ffn_regimes(df, out_dir / "ffn_regimes.png"),
    ]


# ---- (b) communication-bound HFU ceiling, every model on every platform ---------------------


def hfu_ceiling_table(
    models: Sequence[str] = MODELS, hardware: Sequence[str] = HARDWARE
) -> pd.DataFrame:
    """HFU ceiling and its limit per (model, hardware); N_F = 1..64 (docs/model.md §13.2)."""
    rows = []
    for model in models:
        for hw in hardware:
            ceiling = cf.hfu_ceiling(CostModel.of(standard_instance(model, hw)), FFN_NODES)
            rows.append(
                {
                    "model": model,
                    "hardware": hw,
                    "hfu": ceiling.hfu,
                    "best_ffn_nodes": ceiling.best_ffn_nodes,
                    "limited_by": ceiling.limited_by,
                }
            )
    df = pd.DataFrame(rows, columns=list(HFU_CEILING_COLUMNS))
    return df.astype({"best_ffn_nodes": "Int64"})


def hfu_ceiling_step(out_dir: Path) -> list[Path]:
    from solver.analysis import reproduce_plots as plots

    df = hfu_ceiling_table()
    return [
        _write_csv(df, out_dir / "hfu_ceiling.csv"),
        plots.plot_hfu_ceiling(df, out_dir / "hfu_ceiling.png"),
    ]


# ---- (c) imbalance retention, AFD versus EP -------------------------------------------------


def imbalance_retention_step(out_dir: Path) -> list[Path]:
    """docs/model.md §8.4 on the standard cluster: closed forms next to the programs."""
    from solver.analysis import reproduce_plots as plots
    from solver.analysis.retention import retention_table

    df = retention_table(standard_instance(), sigmas=RETENTION_SIGMAS)
    return [
        _write_csv(df, out_dir / "imbalance_retention.csv"),
        plots.plot_retention(df, out_dir / "imbalance_retention.png"),
    ]


RETENTION_SIGMAS = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5)


# Run order of `afd-solver reproduce`; append new results here.
STEPS: list[Step] = [
    Step(
        "ffn_regimes",
        "FFN regimes of DeepSeek-V3 on H800 as N_F grows (CSV + plot)",
        ffn_regimes_step,
        ("ffn_regimes.csv", "ffn_regimes.png"),
    ),
    Step(
        "hfu_ceiling",
        "communication-bound FFN HFU ceiling, 6 models x 8 platforms (CSV + heatmap)",
        hfu_ceiling_step,
        ("hfu_ceiling.csv", "hfu_ceiling.png"),
    ),
    Step(
        "imbalance_retention",
        "imbalance retention vs sigma, AFD and EP: closed forms and the programs (CSV + plot)",
        imbalance_retention_step,
        ("imbalance_retention.csv", "imbalance_retention.png"),
    ),
]


def reproduce(
    out_dir: str | os.PathLike[str] = DEFAULT_OUT_DIR,
    only: Sequence[str] | None = None,
    force: bool = False,
) -> dict[str, list[Path]]:
    """Run the reproduction steps (all, or those named in `only`) into `out_dir`.

    Args:
        force: replace result files already in `out_dir` (otherwise refuse before any step).

    Raises:
        InputError: if `only` names an unknown step, or `out_dir` is unusable or holds
            results and `force` is not given.
    """
    names = [s.name for s in STEPS]
    unknown = [n for n in (only or []) if n not in names]
    if unknown:
        shown = ", ".join(n[:40] for n in unknown[:5])
        raise InputError([f"--only {shown}: unknown step; known: {', '.join(names)}"])
    steps = [s for s in STEPS if not only or s.name in only]
    outputs = [f for s in steps for f in s.outputs]
    out = check_out_dir(out_dir, "--out", outputs, force)
    return {s.name: s.run(out) for s in steps}
