"""What `solve --uncertainty` prints and writes: a summary, JSON, and with `--out DIR` the
samples (`results.csv`, written by the engine), `uncertainty.json` and `uncertainty.png`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from formulations import archspec
from solver.io.outputs import replacing

if TYPE_CHECKING:
    from solver.uncertainty.run import Uncertainty

FILES = ("uncertainty.json", "uncertainty.png")


def _q(q: dict[str, float | None], fmt: str = ",.0f") -> str:
    if q.get("p50") is None:
        return "no deployment in any sample"
    return " / ".join(format(q[k], fmt) for k in ("p5", "p50", "p95"))  # type: ignore[arg-type]


def text(u: Uncertainty) -> str:
    """The summary a terminal shows."""
    what = "tokens/s per GPU" if u.objective != "min_gpus" else "GPUs"
    lines = [f"uncertainty: {u.samples} samples (seed {u.seed}) of {'; '.join(u.sources)}"]
    wins = ", ".join(f"{a.upper()} {p:.1%}" for a, p in u.probability_wins.items())
    lines.append(f"probability of winning: {wins}")
    for arch in u.architectures:
        lines.append(f"{arch.upper()} optimum ({what}) p5 / p50 / p95: {_q(u.quantiles[arch])}")
    for key, q in u.quantiles.items():
        if "/" in key:
            lines.append(f"ratio {key.upper()} p5 / p50 / p95: {_q(q, '.3f')}")
    lines.append("optimal shapes (share of samples, worst and p5 tokens/s per GPU over all):")
    for s in u.shapes[:10]:
        worst, p5 = s.get("worst_tokens_per_s_per_gpu", 0), s.get("p5_tokens_per_s_per_gpu", 0)
        lines.append(f"  {s['shape']:<40} {s['share']:6.1%}   worst {worst:,.0f}   p5 {p5:,.0f}")
    if len(u.shapes) > 10:
        lines.append(f"  ... and {len(u.shapes) - 10} more")
    if u.robust is not None:
        r = u.robust
        lines.append(
            f"robust deployment: {archspec.label(r['architecture'])} {archspec.units_text(r)}, "
            f"{r['sequences_per_gpu']} sequences per GPU: worst case "
            f"{r['worst_tokens_per_s_per_gpu']:,.0f}, p5 {r['p5_tokens_per_s_per_gpu']:,.0f}, "
            f"nominal {r['tokens_per_s_per_gpu']:,.0f} tokens/s per GPU"
        )
    if u.not_solved:
        lines.append(f"note: {u.not_solved} sample optimisations stopped at the time limit")
    if u.shapes and u.robust_samples < u.samples:
        lines.append(
            f"note: the time limit let the robust pass cover {u.robust_samples} of "
            f"{u.samples} samples; worst cases and p5 are over those"
        )
    return "\n".join(lines)


def to_json(u: Uncertainty) -> str:
    return json.dumps(u.to_dict(), indent=2, default=float)


def write(u: Uncertainty, out: Path) -> list[Path]:
    """`uncertainty.json` and the plot of the optima's distributions into `out`."""
    written = []
    with replacing(out / FILES[0]) as tmp:
        tmp.write_text(to_json(u) + "\n")
    written.append(out / FILES[0])
    written.append(plot(u, out / FILES[1]))
    return written


def plot(u: Uncertainty, path: Path) -> Path:
    """`uncertainty.png`: the figure of `figure`, written through a temporary file."""
    import matplotlib.pyplot as plt

    fig = figure(u)
    with replacing(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return path


def figure(u: Uncertainty) -> Any:
    """Histograms of each architecture's optimum over the samples, in its own colour, with
    its median dashed (shared by `uncertainty.png` and `solve --uncertainty --report`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for arch in u.architectures:
        values = [
            r["objective"]
            for r in u.sample_rows
            if r.get("architecture") == arch and r.get("objective") is not None
        ]
        if values:
            colour, label = archspec.get(arch).colour, archspec.label(arch)
            ax.hist(values, bins=30, alpha=0.35, color=colour)
            # The outline in the full colour: the filled bars are pale, and a reader (or
            # the CI's colour check) finds each architecture by its own colour.
            ax.hist(values, bins=30, histtype="step", linewidth=1.8, color=colour,
                    label=f"{label} ({len(values)} samples)")  # fmt: skip
            median = u.quantiles.get(arch, {}).get("p50")
            if median is not None:
                ax.axvline(median, color=colour, linestyle="--", linewidth=1.2)
    what = "tokens/s per GPU" if u.objective != "min_gpus" else "GPUs"
    ax.set_xlabel(f"optimum, {what} (dashed: median)")
    ax.set_ylabel("samples")
    wins = ", ".join(f"{archspec.label(a)} {p:.0%}" for a, p in u.probability_wins.items())
    ax.set_title(f"{u.samples} hardware samples: wins {wins}", fontsize=10)
    ax.legend()
    fig.tight_layout()
    return fig
