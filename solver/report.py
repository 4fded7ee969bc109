"""Render result tables as text, CSV or JSON (numbers stay numbers; missing values are null)."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import pandas as pd

from solver import columns, exit_codes

FORMATS = ("table", "csv", "json")

# Columns shown in the human table, with their headers and formats (solver.columns).
_TABLE = tuple((n, columns.BY_NAME[n].header, columns.BY_NAME[n].fmt) for n in columns.TABLE)


def _clean(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts with JSON-safe values (NaN and NA become None)."""
    out = []
    for row in df.to_dict(orient="records"):
        out.append(
            {
                k: (None if pd.isna(v) else _clean(v)) if not isinstance(v, str) else v
                for k, v in row.items()
            }
        )
    return out


def to_json(df: pd.DataFrame) -> str:
    return json.dumps(records(df), indent=2)


def to_csv(df: pd.DataFrame) -> str:
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    return buf.getvalue()


def _cell(value: Any, fmt: str) -> str:
    value = _clean(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def pairing_label(rec: dict[str, Any]) -> str | None:
    """`h20+h800` (attention + FFN) for pools on different hardware, else the one name."""
    a, f = rec.get("attention_hardware"), rec.get("ffn_hardware")
    if a is None or f is None:
        return a or f
    return a if a == f else f"{a}+{f}"


def to_table(df: pd.DataFrame, objective: str | None = None) -> str:
    """The human table; with the objective counted at the TPOT target, its value is shown next
    to (and labelled apart from) the own-pace throughput."""
    cols = [(k, h, f) for k, h, f in _TABLE if k in df.columns and df[k].notna().any()]
    if objective == "tokens_per_gpu_at_target" and "objective" in df.columns:
        at = next(i for i, (k, _, _) in enumerate(cols) if k == "tokens_per_s_per_gpu")
        cols[at] = ("tokens_per_s_per_gpu", "own tok/s/GPU", "{:,.0f}")
        cols.insert(at, ("objective", "tok/s/GPU @target", "{:,.0f}"))
    recs = records(df)
    labels = [pairing_label(r) for r in recs]
    shown = {label for label in labels if label is not None}
    if len(shown) > 1 or any("+" in label for label in shown):
        # Only when it tells something: pools on different hardware, or rows that differ.
        at = 1 + next((i for i, (k, _, _) in enumerate(cols) if k == "architecture"), -1)
        cols.insert(at, ("hardware", "hardware", "{}"))
        for rec, label in zip(recs, labels, strict=True):
            rec["hardware"] = label
    rows = [[h for _, h, _ in cols]]
    for rec in recs:
        rows.append([_cell(rec.get(k), f) for k, _, f in cols])
    widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    for rec in records(df):
        if rec.get("binding"):
            label = (
                "why" if rec.get("status") in ("infeasible", "error", "time_limit") else "binding"
            )
            who = " ".join(
                str(rec[k]) for k in ("instance", "architecture") if rec.get(k) is not None
            )
            lines.append(f"{who} {label}: {rec['binding']}")
        prices = {k[len("shadow_") :]: v for k, v in rec.items() if k.startswith("shadow_")}
        if any(v is not None for v in prices.values()):
            text = ", ".join(f"{k} {v:+.4g}" for k, v in prices.items() if v is not None)
            lines.append(f"{rec['architecture']} shadow prices (tok/s/GPU per unit): {text}")
    return "\n".join(lines)


def verdict(df: pd.DataFrame, objective: str = "tokens_per_gpu") -> str:
    """One line: which architecture wins and by how much (an architecture without a deployment
    says whether it is infeasible or ran out of time)."""
    rows = records(df)
    ok = [r for r in rows if r.get("status") in ("optimal", "feasible") and r.get("objective")]
    if not ok:
        return exit_codes.no_deployment_verdict(rows) if rows else "verdict: nothing solved"
    if len(ok) == 1:
        return f"verdict: {ok[0]['architecture'].upper()}{exit_codes.verdict_note(rows)}"
    lower_better = objective == "min_gpus"
    ranked = sorted(ok, key=lambda r: r["objective"], reverse=not lower_better)
    best, second = ranked[0], ranked[1]
    if math.isclose(best["objective"], second["objective"], rel_tol=1e-9):
        first, other = best["architecture"].upper(), second["architecture"].upper()
        return f"verdict: tie between {first} and {other}"
    ratio = (
        (second["objective"] / best["objective"])
        if lower_better
        else (best["objective"] / second["objective"])
    )
    what = {
        "tokens_per_gpu": "tokens/s per GPU",
        "total_tokens": "total tokens/s",
        "min_gpus": "fewer GPUs",
        "tokens_per_gpu_at_target": "tokens/s per GPU at the TPOT target",
    }[objective]
    unproven = [r["architecture"].upper() for r in ok if r.get("status") == "feasible"]
    note = f"; {', '.join(unproven)} not proven optimal (time limit)" if unproven else ""
    return (
        f"verdict: {best['architecture'].upper()} wins, "
        f"{ratio:.3f}x {second['architecture'].upper()}"
        f" ({what}{note})"
    )


# Breakdown lines: (label, time key, parts) per architecture; parts are (name, key) pairs.
_Lines = tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]
_STAGES: _Lines = (
    (
        "attention",
        "attention_s",
        (
            ("compute", "attention_flop_s"),
            ("HBM", "attention_byte_s"),
            ("fixed", "attention_latency_s"),
        ),
    ),
    (
        "attention link",
        "attention_wire_s",
        (("dispatch", "attention_dispatch_s"), ("combine", "attention_combine_s")),
    ),
    (
        "grouped GEMM",
        "gemm_s",
        (("compute", "gemm_compute_s"), ("weights", "gemm_weight_s"), ("fixed", "gemm_latency_s")),
    ),
    (
        "FFN scale-out",
        "ffn_scaleout_s",
        (("dispatch", "ffn_scaleout_dispatch_s"), ("combine", "ffn_scaleout_combine_s")),
    ),
    (
        "FFN scale-up",
        "ffn_scaleup_s",
        (("dispatch", "ffn_scaleup_dispatch_s"), ("combine", "ffn_scaleup_combine_s")),
    ),
    (
        "all-to-all scale-out",
        "scaleout_s",
        (("dispatch", "scaleout_dispatch_s"), ("combine", "scaleout_combine_s")),
    ),
    (
        "all-to-all scale-up",
        "scaleup_s",
        (("dispatch", "scaleup_dispatch_s"), ("combine", "scaleup_combine_s")),
    ),
    ("two all-reduces", "allreduce_s", (("fixed", "allreduce_latency_s"),)),
    ("in series (one batch)", "serial_s", ()),
)
SERIAL_KEY = "serial_s"
"""With one micro-batch nothing overlaps: the stage is the sum of the stages above
(docs/model.md §6.5, §20.5). With more, the sum is not a stage and is not shown."""


def stage_lines(rec: dict[str, Any]) -> _Lines:
    """The stage lines that apply to a row (the in-series sum only with one micro-batch)."""
    if int(rec.get("micro_batches") or 1) == 1:
        return _STAGES
    return tuple(line for line in _STAGES if line[1] != SERIAL_KEY)


_POOLS: _Lines = (
    (
        "attention GPU",
        "attention_bytes",
        (
            ("weights", "attention_weight_bytes"),
            ("KV cache", "attention_kv_bytes"),
            ("buffers", "attention_buffer_bytes"),
        ),
    ),
    ("FFN GPU", "ffn_bytes", (("weights", "ffn_weight_bytes"), ("buffers", "ffn_buffer_bytes"))),
    (
        "GPU",
        "gpu_bytes",
        (
            ("attention weights", "attention_weight_bytes"),
            ("experts", "expert_weight_bytes"),
            ("KV cache", "kv_bytes"),
            ("buffers", "buffer_bytes"),
        ),
    ),
)


def breakdown_text(rec: dict[str, Any], prefix: str = "breakdown_") -> list[str]:
    """The per-layer stage times against the budget and each pool's memory against usable HBM,
    for one row that carries `breakdown_*` columns."""
    b = {k[len(prefix) :]: v for k, v in rec.items() if k.startswith(prefix) and v is not None}
    if not b:
        return []
    arch = str(rec.get("architecture", "")).upper()
    budget, stage = b["budget_s"], b["stage_s"]
    lines = [
        f"{arch} breakdown, per layer and micro-batch (stage budget {budget * 1e6:.1f} us at "
        f"the target, own stage {stage * 1e6:.1f} us):"
    ]
    for label, key, parts in stage_lines(rec):
        if key not in b:
            continue
        shown = [(n, k) for n, k in parts if k in b and (n != "fixed" or b[k] > 0)]
        detail = ", ".join(f"{name} {b[k] * 1e6:.1f}" for name, k in shown)
        detail = f"  ({detail})" if detail else ""
        mark = "  <- sets the pace" if b[key] >= stage * (1 - 1e-12) else ""
        lines.append(
            f"  {label:<22}{b[key] * 1e6:9.1f} us {b[key] / budget:7.1%} of budget{detail}{mark}"
        )
    nbo = int(rec.get("micro_batches") or 1)
    layers = round((b["step_s"] - b["step_gap_s"]) / (stage * nbo)) if stage > 0 else 0
    lines.append(
        f"  step {b['step_s'] * 1e3:.2f} ms = gap {b['step_gap_s'] * 1e3:.2f} ms + {layers} "
        f"layers x {nbo} micro-batches x {stage * 1e6:.1f} us; TPOT {b['tpot_ms']:.2f} ms"
    )
    usable = b["usable_bytes"]
    ffn_usable = b.get("ffn_usable_bytes", usable)
    if ffn_usable == usable:
        lines.append(f"  memory per GPU, {usable / 1e9:.1f} GB usable:")
    else:  # pools on different hardware (docs/model.md §17)
        lines.append(
            f"  memory per GPU, {usable / 1e9:.1f} GB usable (attention), "
            f"{ffn_usable / 1e9:.1f} GB (FFN):"
        )
    for label, key, parts in _POOLS:
        if key not in b:
            continue
        cap = ffn_usable if key == "ffn_bytes" else usable
        detail = ", ".join(f"{name} {b[k] / 1e9:.2f} GB" for name, k in parts if k in b)
        lines.append(f"  {label:<22}{b[key] / 1e9:9.2f} GB {b[key] / cap:7.1%}  ({detail})")
    return lines


def render(
    df: pd.DataFrame, fmt: str, objective: str = "tokens_per_gpu", with_verdict: bool = True
) -> str:
    if fmt == "json":
        return to_json(df)
    if fmt == "csv":
        return to_csv(df).rstrip("\n")
    text = to_table(df, objective)
    extra = [line for rec in records(df) for line in breakdown_text(rec)]
    if extra:
        text = text + "\n" + "\n".join(extra)
    return f"{text}\n{verdict(df, objective)}" if with_verdict else text
