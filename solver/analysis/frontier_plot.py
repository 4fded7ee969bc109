"""The TPOT frontier plot: tokens/s per user on x, tokens/s per GPU on y, one curve per
architecture (matplotlib, Agg backend: files only). The target is marked and every point where
the better architecture changes is labelled with its deployment. Curves with thousands of rows
are thinned for drawing only (the CSV keeps every row)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from formulations import archspec  # noqa: E402
from solver.io.outputs import save_figure  # noqa: E402

COLOURS = {s.name: s.colour for s in archspec.SPECS.values()}
MAX_DRAWN = 2000


def _label(row: pd.Series) -> str:
    arch = str(row["architecture"])
    return f"{archspec.label(arch)} {archspec.units_text(row)}, n={row['sequences_per_gpu']}"


def plot_pareto(
    df: pd.DataFrame, path: Path, target_ms: float, changes: list[tuple[float, str]]
) -> Path:
    """Write the frontier of `df` (rows of `solver.analysis.pareto.pareto`) to `path`, with the
    points where the better architecture changes (`changes`: (TPOT ms, architecture))."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for arch, rows in df.groupby("architecture", sort=True):
        rows = rows.sort_values("tpot_ms")
        if len(rows) > MAX_DRAWN:
            rows = rows.iloc[:: max(1, len(rows) // MAX_DRAWN)]
        # Each row holds from its own TPOT up to the next one: a step in the user's speed.
        ax.step(
            1000.0 / rows["target_from_ms"],
            rows["tokens_per_s_per_gpu"],
            where="post",
            color=COLOURS.get(str(arch), "black"),
            label=archspec.label(str(arch)),
        )
    ax.axvline(1000.0 / target_ms, color="gray", linestyle="--", linewidth=1)
    ax.text(
        1000.0 / target_ms,
        ax.get_ylim()[1],
        f" target {target_ms:g} ms",
        va="top",
        color="gray",
        fontsize=8,
    )
    for t, arch in changes:
        live = df[(df["architecture"] == arch) & (df["target_from_ms"] <= t)]
        if live.empty:
            continue
        row = live.sort_values("target_from_ms").iloc[-1]
        x, y = 1000.0 / t, float(row["tokens_per_s_per_gpu"])
        ax.plot([x], [y], "o", color=COLOURS.get(arch, "black"))
        ax.annotate(_label(row), (x, y), textcoords="offset points", xytext=(4, 6), fontsize=7)
    ax.set_xlabel("tokens/s per user (1000 / TPOT ms)")
    ax.set_ylabel("tokens/s per GPU (own pace)")
    ax.set_title("Exact TPOT frontier")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return path
