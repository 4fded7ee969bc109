"""Figures of `afd-solver reproduce`: FFN regimes, HFU ceilings, imbalance retention (files
only; `solver.analysis.plots` sets the Agg backend)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from solver.analysis.plots import plt, save_figure

REGIME_COLOURS = {
    "scale-up": "tab:purple",
    "stable": "tab:green",
    "dead-zone": "tab:red",
    "max-intensity": "tab:olive",
}


def plot_ffn_regimes(df: pd.DataFrame, path: Path) -> Path:
    """Intensity (continuous vs whole experts per GPU) and HFU against N_F, regimes shaded."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True)
    n_f = df["ffn_nodes"].to_numpy(dtype=float)
    top.plot(n_f, df["intensity_continuous"], "-", label="continuous experts per GPU")
    top.plot(n_f, df["intensity_discrete"], "--", label="whole experts per GPU")
    top.set_ylabel("intensity (FLOP / weight byte)")
    bottom.plot(n_f, 100 * df["hfu"], "-k", marker=".")
    bottom.set_ylabel("FFN HFU (%)")
    bottom.set_xlabel("FFN nodes N_F")
    bottom.set_xscale("log", base=2)
    for ax in (top, bottom):
        # Shade each regime's run of N_F values up to the geometric midpoints (log axis).
        for _, run in df.groupby((df["regime"] != df["regime"].shift()).cumsum()):
            lo, hi = float(run["ffn_nodes"].min()), float(run["ffn_nodes"].max())
            left = math.sqrt(lo * (lo - 1)) if lo > 1 else lo / 1.2
            ax.axvspan(
                left,
                math.sqrt(hi * (hi + 1)),
                alpha=0.15,
                lw=0,
                color=REGIME_COLOURS.get(run["regime"].iloc[0], "gray"),
            )
        ax.grid(True, alpha=0.3)
    handles = [Patch(color=c, alpha=0.3, label=r) for r, c in REGIME_COLOURS.items()]
    top.legend(handles=[*top.get_legend_handles_labels()[0], *handles], fontsize=8)
    top.set_title("FFN side of AFD at its wire limit: DeepSeek-V3 on H800 (paper profile)")
    return save_figure(fig, path)


def plot_hfu_ceiling(df: pd.DataFrame, path: Path) -> Path:
    """Heatmap of the HFU ceiling (model x hardware), values written, HBM-limited cells hatched."""
    models = list(dict.fromkeys(df["model"]))
    hardware = list(dict.fromkeys(df["hardware"]))
    grid = df.pivot(index="model", columns="hardware", values="hfu").loc[models, hardware]
    limited = df.pivot(index="model", columns="hardware", values="limited_by").loc[models, hardware]
    fig, ax = plt.subplots(figsize=(10, 5))
    image = ax.imshow(
        100 * grid.to_numpy(dtype=float), cmap="viridis", aspect="auto", vmin=0, vmax=100
    )
    fig.colorbar(image, ax=ax, label="communication-bound FFN HFU ceiling (%)")
    for (i, j), value in np.ndenumerate(grid.to_numpy(dtype=float)):
        hbm = limited.iloc[i, j] == "HBM-limited"
        if hbm:
            ax.add_patch(
                plt.Rectangle(
                    (j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="white", lw=0
                )
            )
        text = f"{100 * value:.1f}%" if value > 0 else "none"
        ax.text(
            j,
            i,
            text + ("\nHBM" if hbm else ""),
            ha="center",
            va="center",
            fontsize=8,
            color="white" if value < 0.6 else "black",
        )
    ax.set_xticks(range(len(hardware)), hardware, rotation=30, ha="right")
    ax.set_yticks(range(len(models)), models)
    ax.set_title("FFN HFU ceiling, paper profile, N_F = 1..64 (hatched: HBM-limited)")
    return save_figure(fig, path)


def plot_retention(df: pd.DataFrame, path: Path) -> Path:
    """Throughput retained under expert imbalance: closed forms (lines) and programs (markers)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    sigma = df["sigma"]
    lam = df["lambda"].iloc[0]
    ax.plot(sigma, df["alpha_ep"], "-", color="tab:blue", label=f"EP alpha_EP (lambda={lam:.2f})")
    ax.plot(sigma, df["ep_program"], "o", color="tab:blue", label="EP program")
    n_a, n_f = df["n_attention"].iloc[0], df["n_ffn"].iloc[0]
    ax.plot(sigma, df["alpha_exact"], "--", color="tab:orange", label="AFD alpha_exact")
    ax.plot(
        sigma,
        df["alpha_afd"],
        "-",
        color="tab:orange",
        label=f"AFD alpha_AFD (N_A={n_a}, N_F={n_f})",
    )
    ax.plot(sigma, df["afd_program"], "s", color="tab:orange", label="AFD program, N_F pinned")
    ax.plot(sigma, df["afd_program_free"], "^", color="tab:red", label="AFD program, free")
    ax.set_xlabel("sigma (capacity the imbalanced expert stage keeps)")
    ax.set_ylabel("throughput retained")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
