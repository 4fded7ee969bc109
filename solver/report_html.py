"""`--report FILE.html`: one self-contained page for the people who approve the plan.

The page holds the verdict, the optima side by side, each optimum's stage times and memory
(`formulations.breakdown`, docs/model.md §9.5), the exact TPOT frontier with the target marked
(§12.4), the binding constraints and shadow prices (§9.4, §15), the instance's inputs and the
model's assumptions in short, and the command that produced it. Charts are PNGs inlined as
base64 `data:` URIs, styles are inline: the file opens without network access and prints on
A4 (charts never split across pages).
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from formulations.types import Instance  # noqa: E402
from solver import report  # noqa: E402

SECTIONS = ("verdict", "optima", "breakdown", "frontier", "binding", "inputs", "command")
"""The page's sections, in order (each a <section id=...>; the tests check them)."""

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:1100px;padding:16px 24px;color:#1b1b1b;line-height:1.4}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;border-bottom:1px solid #ccc;
padding-bottom:2px;margin-top:1.4em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #d0d0d0;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}thead th{background:#f0f0f0}
.verdict{font-size:1.2em;font-weight:600;background:#eef5ff;padding:8px 12px;
border-left:4px solid #2b6cb0}
.cols{display:flex;flex-wrap:wrap;gap:16px}.cols>div{flex:1 1 100%}
figure{margin:.5em 0;break-inside:avoid}figure img{max-width:100%;height:auto}
figcaption{font-size:.85em;color:#555}code,pre{font-size:.85em;background:#f6f6f6}
pre{padding:8px;white-space:pre-wrap;word-break:break-all}
@media print{body{max-width:none;padding:0}section{break-inside:avoid-page}
.verdict{background:none}}
"""

_ROWS = (
    ("status", "status", "{}"),
    ("nodes", "nodes", "{:.0f}"),
    ("attention_nodes", "attention nodes N_A", "{:.0f}"),
    ("ffn_nodes", "FFN nodes N_F", "{:.0f}"),
    ("gpus", "GPUs", "{:.0f}"),
    ("sequences_per_gpu", "sequences per GPU n", "{:.0f}"),
    ("micro_batches", "micro-batches N_BO", "{:.0f}"),
    ("micro_batch_size", "micro-batch size b", "{:.0f}"),
    ("redundant_experts", "redundant experts R", "{:.0f}"),
    ("tokens_per_s_per_gpu", "tokens/s per GPU", "{:,.0f}"),
    ("tokens_per_s", "tokens/s", "{:,.0f}"),
    ("tpot_ms", "TPOT (ms)", "{:.1f}"),
    ("ffn_hfu", "FFN HFU", "{:.1%}"),
    ("temporal_sparsity", "temporal sparsity S_t", "{:.1%}"),
    ("discrete_penalty", "discrete-scaling penalty", "{:.2%}"),
    ("expert_imbalance", "expert imbalance (max/mean)", "{:.3f}"),
    ("attention_hardware", "attention hardware", "{}"),
    ("ffn_hardware", "FFN hardware", "{}"),
    ("solve_s", "solve time (s)", "{:.2f}"),
)

MEMORY_COLOURS = {
    "KV cache": "tab:blue",
    "weights": "tab:green",
    "attention weights": "tab:green",
    "experts": "tab:purple",
    "buffers": "tab:gray",
}
"""One colour per kind of memory, the same in every chart."""

ASSUMPTIONS = (
    "Throughput is measured at each deployment's own pace (Little's law: sequences in flight "
    "over TPOT), not at the target (docs/model.md §9.1).",
    "A stage is one micro-batch through one resource; the slowest stage paces every layer, "
    "and every layer is charged a full stage (§3).",
    "Each stage costs a roofline time plus a fixed time from the hardware's [latency] table "
    "(§3.1); efficiencies scale every peak (§1.2).",
    "Every GPU may fill the usable share of its HBM with weights, KV cache at the mean "
    "context and one layer's traffic per micro-batch (§7).",
    "Node counts are whole deployment units; the discrete-scaling penalty is what that costs "
    "against a fractional count (§8.5).",
)


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(png_b64: str, alt: str, caption: str) -> str:
    return (
        f'<figure><img class="chart" alt="{esc(alt)}" src="data:image/png;base64,{png_b64}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def optima_table(recs: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{esc(r['architecture'].upper())}</th>" for r in recs)
    body = []
    for key, label, fmt in _ROWS:
        if all(r.get(key) is None for r in recs):
            continue
        cells = "".join(f"<td>{esc(cell(r.get(key), fmt))}</td>" for r in recs)
        body.append(f"<tr><th>{esc(label)}</th>{cells}</tr>")
    return f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _parts(rec: dict[str, Any], lines: Any) -> list[tuple[str, float, dict[str, float]]]:
    b = {k[len("breakdown_") :]: v for k, v in rec.items() if k.startswith("breakdown_")}
    out = []
    for label, key, parts in lines:
        if key in b and b[key] is not None:
            out.append((label, float(b[key]), {n: float(b[k]) for n, k in parts if b.get(k)}))
    return out


def breakdown_chart(rec: dict[str, Any]) -> str:
    """Stage times against the budget and memory against usable HBM, one figure."""
    b = {k[len("breakdown_") :]: v for k, v in rec.items() if k.startswith("breakdown_")}
    stages = _parts(rec, report.stage_lines(rec))
    pools = _parts(rec, report._POOLS)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.2))
    names = [s[0] for s in stages][::-1]
    ax1.barh(names, [s[1] * 1e6 for s in stages][::-1], color="tab:blue")
    ax1.axvline(b["budget_s"] * 1e6, color="tab:red", linestyle="--", label="budget at target")
    ax1.axvline(b["stage_s"] * 1e6, color="black", linestyle=":", label="own stage")
    ax1.set_xlabel("us per layer and micro-batch")
    ax1.legend(fontsize=7, loc="lower right")
    ax1.set_title("stage times", fontsize=10)
    left = [0.0] * len(pools)
    kinds = sorted({n for _, _, parts in pools for n in parts})
    for kind in kinds:
        widths = [parts.get(kind, 0.0) / 1e9 for _, _, parts in pools]
        ax2.barh([p[0] for p in pools], widths, left=left, label=kind, color=MEMORY_COLOURS[kind])
        left = [a + w for a, w in zip(left, widths, strict=True)]
    ax2.axvline(b["usable_bytes"] / 1e9, color="tab:red", linestyle="--", label="usable HBM")
    ax2.set_xlabel("GB per GPU")
    ax2.legend(fontsize=7, loc="lower right")
    ax2.set_title("memory", fontsize=10)
    fig.tight_layout()
    arch = str(rec["architecture"]).upper()
    caption = (
        f"{arch}: stage times per layer and micro-batch against the stage budget, and "
        "memory per GPU against usable HBM."
    )
    return _figure(_png(fig), f"{arch} stage times and memory", caption)


def frontier_chart(front: pd.DataFrame, target_ms: float) -> str:
    from solver.analysis.frontier_plot import plot_pareto
    from solver.analysis.pareto import winner_changes

    buf = io.BytesIO()
    plot_pareto(front, buf, target_ms, winner_changes(front))  # type: ignore[arg-type]
    return _figure(
        base64.b64encode(buf.getvalue()).decode("ascii"),
        "TPOT frontier",
        f"Best tokens/s per GPU for every TPOT target (exact breakpoints); the dashed line is "
        f"the target, {target_ms:g} ms.",
    )


def binding_html(recs: list[dict[str, Any]]) -> str:
    items = []
    for r in recs:
        prices = {
            k[len("shadow_") :]: v
            for k, v in r.items()
            if k.startswith("shadow_") and v is not None
        }
        text = ", ".join(f"{k} {v:+.4g}" for k, v in prices.items()) or "not computed"
        items.append(
            f"<li><b>{esc(r['architecture'].upper())}</b>: binding "
            f"<code>{esc(r.get('binding') or '-')}</code>; LP binding "
            f"<code>{esc(r.get('lp_binding') or '-')}</code>; shadow prices (tokens/s/GPU per "
            f"GB/s, GB, TB/s, ms): {esc(text)}</li>"
        )
    return f"<ul>{''.join(items)}</ul>"


def inputs_html(inst: Instance) -> str:
    w, s, m, hw = inst.workload, inst.search, inst.model, inst.hardware
    rows = [
        ("model", f"{m.name}: {m.num_layers} layers ({m.num_dense_layers} dense), "
         f"{m.num_routed_experts} experts, top-{m.experts_per_token}, {m.attention.upper()}"),
        ("hardware", f"{inst.hardware.name} ({hw.profile} profile)"
         + (f", FFN {inst.ffn_hardware.name}" if inst.ffn_hardware else "")),
        ("HBM per GPU", f"{hw.hbm_gb:g} GB, {hw.hbm_usable_fraction:.0%} usable"),
        ("TPOT target", f"{w.tpot_ms:g} ms"),
        ("context", f"{w.context_tokens:,.0f} tokens (mean KV length)"),
        ("MTP", f"{w.mtp_acceptance:g} tokens accepted per step, {w.tokens_per_step:g} computed"),
        ("step gap", f"{w.step_gap_ms:g} ms"),
        ("imbalance", f"DP sigma {w.dp_imbalance:g}, expert {w.expert_imbalance:g}"
         + (f", loads {w.expert_loads}" if w.expert_loads else "")),
        ("search", f"objective {s.objective}, unit {s.unit_gpus} GPUs, architectures "
         f"{', '.join(s.architectures)}"),
    ]  # fmt: skip
    table = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    bullets = "".join(f"<li>{esc(a)}</li>" for a in ASSUMPTIONS)
    return f"<table><tbody>{table}</tbody></table><p>Assumptions:</p><ul>{bullets}</ul>"


def page(
    inst: Instance,
    df: pd.DataFrame,
    front: pd.DataFrame | None,
    command: str,
    title: str = "afd-solver plan",
) -> str:
    """The whole HTML page of one solve (`df` with breakdown_* and shadow columns)."""
    recs = report.records(df)
    verdict = report.verdict(df, inst.search.objective)
    charts = "".join(f"<div>{breakdown_chart(r)}</div>" for r in recs if r.get("breakdown_stage_s"))
    frontier = (
        frontier_chart(front, inst.workload.tpot_ms)
        if front is not None and not front.empty
        else "<p>No frontier: no architecture has a deployment in the range.</p>"
    )
    text = "\n".join(line for r in recs for line in report.breakdown_text(r))
    parts = {
        "verdict": f'<p class="verdict">{esc(verdict)}</p>',
        "optima": optima_table(recs),
        "breakdown": f'<div class="cols">{charts}</div><pre>{esc(text)}</pre>',
        "frontier": frontier,
        "binding": binding_html(recs),
        "inputs": inputs_html(inst),
        "command": pre(command),
    }
    headings = {
        "verdict": "Verdict",
        "optima": "The optima side by side",
        "breakdown": "Where the time and the memory go",
        "frontier": "Latency against cost: the TPOT frontier",
        "binding": "What binds, and what more of it is worth",
        "inputs": "Inputs and assumptions",
        "command": "Produced by",
    }
    return wrap(title, inst.name, {k: (headings[k], parts[k]) for k in SECTIONS})


PARETO_SECTIONS = ("verdict", "frontier", "breakpoints", "inputs", "command")
"""The sections of `pareto --report`."""

_BREAKPOINT_COLUMNS = (
    ("architecture", "arch", "{}"),
    ("target_from_ms", "target from (ms)", "{:.2f}"),
    ("target_to_ms", "to (ms)", "{:.2f}"),
    ("tpot_ms", "TPOT (ms)", "{:.2f}"),
    ("tokens_per_s_per_gpu", "tokens/s per GPU", "{:,.0f}"),
    ("gpus", "GPUs", "{:.0f}"),
    ("sequences_per_gpu", "n", "{:.0f}"),
    ("binding", "binding", "{}"),
)


def wrap(title: str, name: str, sections: dict[str, tuple[str, str]]) -> str:
    """A whole page: `sections` maps each <section id> to its heading and HTML content."""
    body = "".join(
        f'<section id="{k}"><h2>{esc(head)}</h2>{content}</section>'
        for k, (head, content) in sections.items()
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}: {esc(name)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{esc(title)}: {esc(name)}</h1>{body}</body></html>\n"
    )


Columns = tuple[tuple[str, str, str], ...]
"""(record key, header, format) of each column of a table of records."""


def records_table(recs: list[dict[str, Any]], columns: Columns) -> str:
    """One row per record, the given columns (missing or NaN cells as '-')."""
    head = "".join(f"<th>{esc(h)}</th>" for _, h, _ in columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{esc(cell(r.get(k), f))}</td>" for k, _, f in columns) + "</tr>"
        for r in recs
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def chart(fig: Any, alt: str, caption: str) -> str:
    """A matplotlib figure as an inlined PNG <figure> (the figure is closed)."""
    return _figure(_png(fig), alt, caption)


def verdict_html(lines: list[str]) -> str:
    """The page's answer, one line each, in the verdict box."""
    return '<p class="verdict">' + "<br>".join(esc(x) for x in lines) + "</p>"


def write_page(path: Any, text: str) -> None:
    """Write a page through a temporary file (never half a page, never through a link) and
    say so on stderr."""
    import sys

    from solver.io.outputs import replacing

    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)


def pre(text: str) -> str:
    """Preformatted text (the command, a summary), escaped."""
    return f"<pre>{esc(text)}</pre>"


def pareto_page(inst: Instance, front: pd.DataFrame, command: str) -> str:
    """The HTML page of `pareto`: who wins over which targets, the frontier, every breakpoint."""
    from solver.analysis.pareto import winner_changes

    changes = winner_changes(front)
    lines = [f"from {t:.2f} ms: {arch.upper()} is better" for t, arch in changes]
    verdict = verdict_html(lines or ["one architecture only"])
    table = records_table(report.records(front), _BREAKPOINT_COLUMNS)
    frontier = (
        frontier_chart(front, inst.workload.tpot_ms)
        if not front.empty
        else "<p>No architecture has a deployment in the range.</p>"
    )
    return wrap(
        "afd-solver frontier",
        inst.name,
        {
            "verdict": ("Who wins where", verdict),
            "frontier": ("Latency against cost: the TPOT frontier", frontier),
            "breakpoints": ("Every breakpoint (the optimal deployment per target range)", table),
            "inputs": ("Inputs and assumptions", inputs_html(inst)),
            "command": ("Produced by", pre(command)),
        },
    )
