"""`solve --uncertainty N --report FILE.html`: how sure the verdict is. The probability each
architecture wins, quantiles of each optimum and of their ratio, the distribution chart, the
optimal shapes, the robust deployment, where the samples come from, the inputs, the command."""

from __future__ import annotations

from typing import Any

from formulations import archspec
from formulations.types import Instance
from solver.report_html import cell, chart, esc, inputs_html, pre, records_table, verdict_html, wrap
from solver.uncertainty.output import figure
from solver.uncertainty.run import Uncertainty

SECTIONS = (
    "verdict", "quantiles", "distribution", "shapes", "robust", "sources", "inputs", "command",
)  # fmt: skip
"""The sections of `solve --uncertainty --report`, in order."""

_SHAPES = (
    ("shape", "shape", "{}"),
    ("share", "share of samples", "{:.1%}"),
    ("optimal_in", "optimal in", "{:.0f}"),
    ("worst_tokens_per_s_per_gpu", "worst tokens/s per GPU", "{:,.0f}"),
    ("p5_tokens_per_s_per_gpu", "p5 tokens/s per GPU", "{:,.0f}"),
)
_ROBUST = (
    ("architecture", "architecture", "{}"),
    ("units", "units", "{}"),
    ("sequences_per_gpu", "sequences per GPU", "{:.0f}"),
    ("worst_tokens_per_s_per_gpu", "worst tokens/s per GPU", "{:,.0f}"),
    ("p5_tokens_per_s_per_gpu", "p5 tokens/s per GPU", "{:,.0f}"),
    ("tokens_per_s_per_gpu", "nominal tokens/s per GPU", "{:,.0f}"),
)


def _name(key: str) -> str:
    """An architecture's label, or a ratio's (`afd/ep` -> `AFD/EP`)."""
    return "/".join(archspec.label(a) for a in key.split("/"))


def uncertainty_page(inst: Instance, u: Uncertainty, command: str) -> str:
    """The HTML page of one `solve --uncertainty` run (`inst`: the nominal instance)."""
    what = "GPUs" if u.objective == "min_gpus" else "tokens/s per GPU"
    wins = [
        f"{_name(a)} wins in {p:.1%} of {u.samples} samples" for a, p in u.probability_wins.items()
    ]
    quantiles: list[dict[str, Any]] = []
    for key, q in u.quantiles.items():
        ratio = "/" in key
        fmt = "{:.3f}" if ratio else "{:,.0f}"  # as the terminal summary shows them
        cells = {p: cell(v, fmt) for p, v in q.items()}
        quantiles.append({"of": f"{_name(key)} {'ratio' if ratio else what}", **cells})
    head = (("of", "optimum", "{}"), *((k, k, "{}") for k in ("p5", "p50", "p95")))
    q_table = records_table(quantiles, head)
    if u.robust is None:
        robust = "<p>No shape has a deployment in every sample.</p>"
    else:
        r = u.robust
        row = {**r, "architecture": archspec.label(r["architecture"]),
               "units": archspec.units_text(r)}  # fmt: skip
        robust = (
            "<p>The shape with the highest worst case over every sample, at its best batch "
            f"(docs/model.md §19.5):</p>{records_table([row], _ROBUST)}"
        )
    sources = "".join(f"<li>{esc(s)}</li>" for s in u.sources)
    stopped = (
        f"<p>{u.not_solved} sample optimisations stopped at the time limit.</p>"
        if u.not_solved
        else ""
    )
    if u.shapes and u.robust_samples < u.samples:
        stopped += (
            f"<p>The time limit let the robust pass cover {u.robust_samples} of {u.samples} "
            "samples: worst cases and p5 are over those.</p>"
        )
    return wrap(
        "afd-solver uncertainty",
        inst.name,
        {
            "verdict": ("How sure the verdict is", verdict_html(wins)),
            "quantiles": (f"Quantiles of each optimum ({what}) and of their ratio", q_table),
            "distribution": ("The optima's distributions", chart(
                figure(u), "distribution of each architecture's optimum",
                f"Each architecture's optimum ({what}) over the {u.samples} samples; dashed: "
                "the median.")),
            "shapes": ("The optimal shapes (how often each is optimal)",
                       records_table(u.shapes, _SHAPES)),
            "robust": ("The robust deployment", robust),
            "sources": ("Where the samples come from",
                        f"<p>{u.samples} samples, seed {u.seed}, of:</p><ul>{sources}</ul>"
                        + stopped),
            "inputs": ("Inputs and assumptions (the nominal instance)", inputs_html(inst)),
            "command": ("Produced by", pre(command)),
        },
    )  # fmt: skip
