"""Plots of sweep results (matplotlib, Agg backend: files only, never a window).

- One varied key (or `--one-at-a-time`): `DIR/<key>.png`, tokens/s per GPU of AFD
  and EP against the parameter. Infeasible points are gaps in the curves; each
  feasible point's marker shows the first resource of its `binding` (the most
  specific one), so regime changes along the curve are visible.
- Two grid keys: `DIR/phase_<k1>__<k2>.png`, the winner (AFD, EP, tie, none) of
  every cell by the instance's objective, and `DIR/ratio_<k1>__<k2>.png`, the
  AFD/EP tokens/s-per-GPU ratio.
- More than two grid keys: the phase and ratio plots of every pair, with the
  other keys held at their first value (a slice of the grid, named in the title).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import ListedColormap, TwoSlopeNorm  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from formulations import archspec  # noqa: E402
from solver.analysis.crossover import winner  # noqa: E402
from solver.io.outputs import save_figure as save_png  # noqa: E402

if TYPE_CHECKING:
    from solver.analysis.sweep import Vary

ARCH_COLOURS = {s.name: s.colour for s in archspec.SPECS.values()}
# Marker per binding resource family (the part after `side:` in `binding`).
FAMILY_MARKERS = {
    "compute": "o",
    "hbm_bandwidth": "s",
    "hbm_capacity": "D",
    "scale_out": "^",
    "scale_up": "v",
    "latency": "P",
    "search limit": "X",
    "demand": "*",
    "other": ".",
}
WINNERS = (*archspec.NAMES, "tie", "none")
WINNER_COLOURS = (*ARCH_COLOURS.values(), "tab:gray", "white")
FEASIBLE = ("optimal", "feasible")
MAX_TICKS = 12
MAX_ANNOTATED_CELLS = 225  # write the ratio into cells up to a 15 x 15 grid


def binding_family(binding: Any) -> str:
    """The resource family of the first (most specific) binding entry, e.g. `scale_up`."""
    if not isinstance(binding, str) or not binding:
        return "other"
    first = binding.split(";")[0].split("+")[0].strip()
    side, _, what = first.partition(":")
    if side == "search":
        return "search limit"
    name = what or side
    return name if name in FAMILY_MARKERS else "other"


def _feasible(rows: pd.DataFrame) -> pd.Series:
    return rows["status"].isin(FEASIBLE) & rows["objective"].notna()


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _label(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _arch_rows(table: pd.DataFrame, arch: str) -> pd.DataFrame:
    if "architecture" not in table.columns:
        return table.iloc[0:0]
    return table[table["architecture"] == arch]


def _norm(value: Any) -> Any:
    # Values come back from JSON: 50 and 50.0 are the same point of one key.
    if isinstance(value, int | float | np.number) and not isinstance(value, bool):
        return float(value)
    return value


def _same(column: pd.Series, value: Any) -> pd.Series:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return pd.to_numeric(column, errors="coerce") == value
    return column == value


Row = dict[str, Any]


def _index(rows: pd.DataFrame, keys: Sequence[str]) -> dict[tuple[Any, ...], Row]:
    """Feasible rows by (normalised values of `keys`..., architecture); first one wins."""
    out: dict[tuple[Any, ...], Row] = {}
    if "architecture" not in rows.columns:
        return out
    for rec in rows[_feasible(rows)].to_dict(orient="records"):
        out.setdefault((*(_norm(rec[k]) for k in keys), rec["architecture"]), rec)
    return out


def save_figure(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    save_png(fig, path, dpi=110)
    plt.close(fig)
    return path


def _sparse_ticks(labels: list[str]) -> tuple[list[int], list[str]]:
    step = max(1, math.ceil(len(labels) / MAX_TICKS))
    idx = list(range(0, len(labels), step))
    return idx, [labels[i] for i in idx]


def plot_line(rows: pd.DataFrame, vary: Vary, path: Path, note: str = "") -> Path:
    """Tokens/s per GPU of each architecture against one parameter (infeasible = gap)."""
    values = list(vary.values)
    numeric = _numeric(values)
    xs = np.array(values, dtype=float) if numeric else np.arange(len(values), dtype=float)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    families_seen: set[str] = set()
    found = _index(rows, [vary.key])
    for arch, colour in ARCH_COLOURS.items():
        if _arch_rows(rows, arch).empty:
            continue
        ys = np.full(len(values), np.nan)
        fams: list[str | None] = [None] * len(values)
        for i, value in enumerate(values):
            rec = found.get((_norm(value), arch))
            if rec is not None:
                ys[i] = float(rec["tokens_per_s_per_gpu"])
                fams[i] = binding_family(rec["binding"])
        # NaN breaks the line: infeasible points show as gaps, ticked on the x-axis.
        ax.plot(xs, ys, "-", color=colour, label=arch.upper(), lw=1.5)
        gaps = np.isnan(ys)
        if gaps.any():
            ax.scatter(
                xs[gaps],
                np.zeros(int(gaps.sum())),
                marker="x",
                color=colour,
                s=25,
                clip_on=False,
                zorder=3,
            )
            families_seen.add("infeasible")
        for fam in {f for f in fams if f is not None}:
            mask = np.array([f == fam for f in fams])
            ax.scatter(
                xs[mask],
                ys[mask],
                marker=FAMILY_MARKERS[fam],
                color=colour,
                edgecolor="black",
                linewidths=0.5,
                s=36,
                zorder=3,
            )
            families_seen.add(fam)
    if vary.log and numeric:
        ax.set_xscale("log")
        # Plain numbers; minor ticks labelled at 2x and 5x only, so they never collide.
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(
            FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else "")
        )
    if not numeric:
        ticks, labels = _sparse_ticks([_label(v) for v in values])
        ax.set_xticks(ticks, labels)
    ax.set_xlabel(vary.key)
    ax.set_ylabel("tokens/s per GPU")
    ax.set_ylim(bottom=0)
    ax.set_title(f"throughput per GPU vs {vary.key}{note}")
    ax.grid(True, alpha=0.3)
    handles = [Line2D([], [], color=c, label=archspec.label(a)) for a, c in ARCH_COLOURS.items()]
    handles += [
        Line2D(
            [],
            [],
            ls="",
            marker=FAMILY_MARKERS[f],
            color="gray",
            markeredgecolor="black",
            label=f"binding: {f}",
        )
        for f in FAMILY_MARKERS
        if f in families_seen
    ]
    if "infeasible" in families_seen:
        handles.append(Line2D([], [], ls="", marker="x", color="gray", label="infeasible (gap)"))
    ax.legend(handles=handles, fontsize=8, loc="best")
    return save_figure(fig, path)


def _grids(rows: pd.DataFrame, v1: Vary, v2: Vary, objective: str) -> tuple[np.ndarray, np.ndarray]:
    """Winner codes (index into WINNERS) and AFD/EP ratios, rows = v1 values, cols = v2."""
    found = _index(rows, [v1.key, v2.key])
    codes = np.zeros((len(v1.values), len(v2.values)), dtype=int)
    ratio = np.full(codes.shape, np.nan)
    for (i, a), (j, b) in itertools.product(enumerate(v1.values), enumerate(v2.values)):
        cell = {arch: found.get((_norm(a), _norm(b), arch)) for arch in archspec.NAMES}
        win = winner(
            {k: None if r is None else float(r["objective"]) for k, r in cell.items()}, objective
        )
        codes[i, j] = WINNERS.index(win)
        afd, ep = cell[archspec.AFD.name], cell[archspec.EP.name]  # the ratio the mission asks
        if afd is not None and ep is not None and ep["tokens_per_s_per_gpu"]:
            ratio[i, j] = afd["tokens_per_s_per_gpu"] / ep["tokens_per_s_per_gpu"]
    return codes, ratio


def _grid_axes(ax: Any, v1: Vary, v2: Vary) -> None:
    xt, xl = _sparse_ticks([_label(v) for v in v2.values])
    yt, yl = _sparse_ticks([_label(v) for v in v1.values])
    ax.set_xticks(xt, xl, rotation=45, ha="right")
    ax.set_yticks(yt, yl)
    ax.set_xlabel(v2.key + (" (log)" if v2.log else ""))
    ax.set_ylabel(v1.key + (" (log)" if v1.log else ""))


def plot_pair(
    rows: pd.DataFrame, v1: Vary, v2: Vary, out_dir: Path, objective: str, note: str = ""
) -> list[Path]:
    """Phase diagram of the winner and heatmap of the AFD/EP ratio over two grid keys."""
    codes, ratio = _grids(rows, v1, v2, objective)
    stem = f"{v1.key}__{v2.key}"
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    ax.imshow(
        codes,
        origin="lower",
        aspect="auto",
        cmap=ListedColormap(WINNER_COLOURS),
        vmin=-0.5,
        vmax=len(WINNERS) - 0.5,
        interpolation="nearest",
    )
    _grid_axes(ax, v1, v2)
    ax.legend(
        handles=[
            Patch(facecolor=c, edgecolor="black", label=w.upper() if len(w) < 4 else w)
            for w, c in zip(WINNERS, WINNER_COLOURS, strict=True)
        ],
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
    )
    ax.set_title(f"winner by {objective}{note}")
    paths = [save_figure(fig, out_dir / f"phase_{stem}.png")]

    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    finite = ratio[np.isfinite(ratio)]
    lo = float(finite.min()) if finite.size else 0.5
    hi = float(finite.max()) if finite.size else 2.0
    norm = TwoSlopeNorm(vcenter=1.0, vmin=min(lo, 1.0 - 1e-6), vmax=max(hi, 1.0 + 1e-6))
    image = ax.imshow(
        np.ma.masked_invalid(ratio),
        origin="lower",
        aspect="auto",
        cmap="coolwarm_r",
        norm=norm,
        interpolation="nearest",
    )
    fig.colorbar(image, ax=ax, label="AFD / EP tokens/s per GPU (blank: a side infeasible)")
    if ratio.size <= MAX_ANNOTATED_CELLS:
        for (i, j), value in np.ndenumerate(ratio):
            if np.isfinite(value):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7)
    _grid_axes(ax, v1, v2)
    ax.set_title(f"AFD / EP throughput per GPU{note}")
    paths.append(save_figure(fig, out_dir / f"ratio_{stem}.png"))
    return paths


def _only(table: pd.DataFrame, fixed: dict[str, Any], absent: Sequence[str]) -> pd.DataFrame:
    mask = pd.Series(True, index=table.index)
    for key, value in fixed.items():
        mask &= _same(table[key], value)
    for key in absent:
        mask &= table[key].isna()
    return table[mask]


def plot_sweep(
    table: pd.DataFrame,
    varies: Sequence[Vary],
    grid: bool,
    out_dir: Path,
    objective: str = "tokens_per_gpu",
) -> list[Path]:
    """Every plot of a sweep (see the module docstring); returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = [v.key for v in varies]
    if any(k not in table.columns for k in keys) or "status" not in table.columns:
        return []
    paths: list[Path] = []
    if not grid or len(varies) == 1:
        for vary in varies:
            # One-at-a-time points leave the other keys unset (at the instance's value).
            rows = _only(table, {}, [k for k in keys if k != vary.key])
            rows = rows[rows[vary.key].notna()]
            paths.append(plot_line(rows, vary, out_dir / f"{vary.key}.png"))
        return paths
    for v1, v2 in itertools.combinations(varies, 2):
        others = {v.key: v.values[0] for v in varies if v.key not in (v1.key, v2.key)}
        note = "".join(f", {k}={_label(v)}" for k, v in others.items())
        paths += plot_pair(
            _only(table, others, []), v1, v2, out_dir, objective, f" ({note[2:]})" if note else ""
        )
    return paths
