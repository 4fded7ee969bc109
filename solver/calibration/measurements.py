"""Read and check a measurements CSV for `afd-solver calibrate` (README "Calibration").

Two kinds of rows, mixed freely; the columns are a contract (more may be appended, and a
column a row's kind does not use must be empty in that row):

    kind                         grouped_gemm | attention | dispatch | combine | allreduce |
                                 deployment
    scenario, deployment         deployment rows: a scenario (path relative to the CSV, or a
                                 shipped scenario name) and a deployment as `evaluate` takes it
    tokens_per_s_per_gpu, tpot_ms   deployment rows: what was measured (one or both)
    tokens_per_expert, n, k      grouped_gemm: m tokens per expert, an n x k weight per expert
    batch, context_tokens        attention: sequences in the call, cached tokens per sequence
    tier, ranks, tokens, hidden  dispatch/combine: scale_up | scale_out, ranks in the group,
                                 token copies one rank sends, hidden size; allreduce:
                                 scale_up, the group's GPUs (>= 2), tokens reduced, hidden size
    bytes_per_element            weight (grouped_gemm), KV (attention) or activation bytes
    time_us, tflops              the measured time of one call, or its achieved TFLOP/s
    groups, tokens_per_sequence  appended: experts in a grouped-GEMM call (default 1); query
                                 tokens per sequence in an attention call (default 1)

Every problem in the file is reported at once, each as `FILE:LINE: field: what is wrong`.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from solver.errors import InputError
from solver.io import numbers
from solver.io.files import read_text

KINDS = ("deployment", "grouped_gemm", "attention", "dispatch", "combine", "allreduce")
COLUMNS = (
    "kind",
    "scenario",
    "deployment",
    "tokens_per_s_per_gpu",
    "tpot_ms",
    "tokens_per_expert",
    "n",
    "k",
    "batch",
    "context_tokens",
    "tier",
    "ranks",
    "tokens",
    "hidden",
    "bytes_per_element",
    "time_us",
    "tflops",
)
"""The contract columns, in order."""
EXTRA_COLUMNS = ("groups", "tokens_per_sequence")
"""Appended columns this tool reads (others are ignored)."""
TIERS = ("scale_up", "scale_out")
MAX_BYTES = 16 << 20
"""A measurements file: 16 MiB."""
MAX_ROWS = 5000
"""Rows of one measurements file (each deployment row is re-evaluated many times per fit)."""
MAX_LINE_CHARS = 65536

# (lowest, highest, whole number) of every numeric column.
RANGES: dict[str, tuple[float, float, bool]] = {
    "tokens_per_s_per_gpu": (0.0, 1e9, False),
    "tpot_ms": (0.0, 1e6, False),
    "tokens_per_expert": (0.0, 1e9, False),
    "n": (1, 1_000_000, True),
    "k": (1, 1_000_000, True),
    "batch": (1, 1_000_000, True),
    "context_tokens": (0.0, 1e9, False),
    "ranks": (1, 1_000_000, True),
    "tokens": (0.0, 1e12, False),
    "hidden": (1, 1_000_000, True),
    "bytes_per_element": (0.0, 8.0, False),
    "time_us": (0.0, 1e9, False),
    "tflops": (0.0, 1e6, False),
    "groups": (1, 1_000_000, True),
    "tokens_per_sequence": (1, 64, True),
}
"""Lower bounds are exclusive for real numbers (a time of 0 is not a measurement)."""

# Columns each kind needs, may give, and (the rest) must leave empty.
REQUIRED = {
    "deployment": ("scenario", "deployment"),
    "grouped_gemm": ("tokens_per_expert", "n", "k"),
    "attention": ("batch", "context_tokens"),
    "dispatch": ("tier", "ranks", "tokens", "hidden", "bytes_per_element", "time_us"),
    "combine": ("tier", "ranks", "tokens", "hidden", "bytes_per_element", "time_us"),
    "allreduce": ("tier", "ranks", "tokens", "hidden", "bytes_per_element", "time_us"),
}
OPTIONAL = {
    "deployment": ("tokens_per_s_per_gpu", "tpot_ms"),
    "grouped_gemm": ("groups", "bytes_per_element", "time_us", "tflops"),
    "attention": ("tokens_per_sequence", "bytes_per_element", "time_us", "tflops"),
    "dispatch": (),
    "combine": (),
    "allreduce": (),
}
TFLOPS_TOLERANCE = 0.02
"""time_us and tflops of one row may disagree by this much (rounding of a printed table)."""


@dataclass(frozen=True)
class Row:
    """One measurement row, checked: its kind, its numbers and texts, and where it stands."""

    line: int
    kind: str
    values: dict[str, float] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)

    def get(self, name: str, default: float) -> float:
        return self.values.get(name, default)


def _number(text: str, name: str) -> tuple[float | None, str | None]:
    """A cell through the one number conversion (`solver.io.numbers`)."""
    lo, hi, whole = RANGES[name]
    bounds = numbers.Bounds(ge=lo, le=hi) if whole else numbers.Bounds(gt=lo, le=hi)
    value, problem = numbers.parse(text, name, integer=whole, bounds=bounds)
    return (None, problem) if problem else (float(value), None)


def _check_row(cells: dict[str, str], where: str, problems: list[str]) -> Row | None:
    kind = cells.get("kind", "").strip().lower()
    if kind not in KINDS:
        shown = kind if len(kind) <= 30 else kind[:27] + "..."
        problems.append(f"{where}: kind: {shown!r} is not one of {', '.join(KINDS)}")
        return None
    allowed = set(REQUIRED[kind]) | set(OPTIONAL[kind]) | {"kind"}
    start = len(problems)
    values: dict[str, float] = {}
    texts: dict[str, str] = {}
    for name in (*COLUMNS, *EXTRA_COLUMNS):
        text = cells.get(name, "").strip()
        if not text:
            if name in REQUIRED[kind]:
                problems.append(f"{where}: {name}: missing, required for kind {kind}")
            continue
        if name not in allowed:
            problems.append(f"{where}: {name}: does not apply to kind {kind}; leave it empty")
        elif name in ("scenario", "deployment"):
            texts[name] = text
        elif name == "tier":
            if text not in TIERS:
                problems.append(f"{where}: tier: {text[:30]!r} is not one of {', '.join(TIERS)}")
            texts[name] = text
        elif name != "kind":
            value, problem = _number(text, name)
            if problem:
                problems.append(f"{where}: {problem}")
            else:
                values[name] = float(value)  # type: ignore[arg-type]
    if kind == "deployment" and not {"tokens_per_s_per_gpu", "tpot_ms"} & set(cells_given(cells)):
        problems.append(f"{where}: give tokens_per_s_per_gpu or tpot_ms (or both)")
    if kind in ("grouped_gemm", "attention") and not {"time_us", "tflops"} & set(
        cells_given(cells)
    ):
        problems.append(f"{where}: give time_us or tflops")
    if kind == "allreduce":  # the model's all-reduce: TP's, inside one scale-up domain (§20.4)
        if texts.get("tier", "scale_up") != "scale_up":
            problems.append(f"{where}: tier: an allreduce row is on scale_up (TP's all-reduce)")
        if values.get("ranks", 2) < 2:
            problems.append(f"{where}: ranks: an all-reduce needs at least 2 ranks")
    if len(problems) > start:
        return None
    return Row(line=0, kind=kind, values=values, texts=texts)


def cells_given(cells: dict[str, str]) -> list[str]:
    """Names of the non-empty cells of a row."""
    return [k for k, v in cells.items() if v is not None and str(v).strip()]


def read_measurements(path: str | os.PathLike[str], problems: list[str] | None = None) -> list[Row]:
    """Every row of a measurements CSV, checked; InputError lists every bad row at once.

    With `problems` given, bad rows are appended there (to be reported with what later checks
    find) and the good rows returned; a file that cannot be read at all still raises."""
    collect = problems is not None
    path = Path(path)
    text = read_text(path, MAX_BYTES, "a measurements CSV")
    lines = text.splitlines()
    long = [i + 1 for i, line in enumerate(lines) if len(line) > MAX_LINE_CHARS]
    if long:
        raise InputError([f"{path}:{long[0]}: line longer than {MAX_LINE_CHARS:,} characters"])
    reader = csv.reader(lines)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InputError([f"{path}: empty file; the first line names the columns"]) from None
    except csv.Error as exc:
        raise InputError([f"{path}:1: unreadable CSV ({exc})"]) from None
    problems = [] if problems is None else problems
    start = len(problems)
    if "kind" not in header:
        raise InputError(
            [f"{path}:1: no 'kind' column; the columns are {', '.join(COLUMNS)} (README)"]
        )
    twice = sorted({h for h in header if header.count(h) > 1 and h})
    if twice:
        raise InputError([f"{path}:1: column(s) named twice: {', '.join(twice)}"])
    rows: list[Row] = []
    seen: dict[tuple[str, ...], int] = {}
    try:
        for cells_list in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells_list):
                continue
            if len(rows) + len(problems) - start >= MAX_ROWS:
                raise InputError([f"{path}: more than {MAX_ROWS:,} rows; split the file"])
            where = f"{path}:{line}"
            if len(cells_list) > len(header):
                problems.append(f"{where}: {len(cells_list)} cells, the header has {len(header)}")
                continue
            cells = dict(zip(header, cells_list, strict=False))
            key = tuple(c.strip() for c in cells_list)
            if key in seen:
                problems.append(f"{where}: duplicate of line {seen[key]}")
                continue
            seen[key] = line
            row = _check_row(cells, where, problems)
            if row is not None:
                rows.append(Row(line=line, kind=row.kind, values=row.values, texts=row.texts))
    except csv.Error as exc:
        problems.append(f"{path}:{reader.line_num}: unreadable CSV ({exc})")
    if len(problems) > start and not collect:
        raise InputError(problems)
    if not rows and len(problems) == start:
        raise InputError([f"{path}: no measurement rows after the header"])
    return rows


def consistent_time_s(row: Row, flops: float, where: str) -> tuple[float | None, str | None]:
    """The measured time of a kernel row: time_us, or FLOPs over tflops; both must agree."""
    time_us = row.values.get("time_us")
    tflops = row.values.get("tflops")
    from_rate = flops / (tflops * 1e12) if tflops else None
    if time_us is not None and from_rate is not None:
        if abs(time_us * 1e-6 / from_rate - 1.0) > TFLOPS_TOLERANCE:
            return None, (
                f"{where}: time_us {time_us:g} and tflops {tflops:g} disagree "
                f"({flops / (time_us * 1e-6) / 1e12:.4g} TFLOP/s from the time); give one"
            )
    if time_us is not None:
        return time_us * 1e-6, None
    return from_rate, None


def describe(row: Row) -> dict[str, Any]:
    """What a row measured, for the report: its kind and its inputs."""
    shown: dict[str, Any] = {"line": row.line, "kind": row.kind}
    shown.update(row.texts)
    shown.update({k: v for k, v in row.values.items() if k not in ("time_us", "tflops")})
    return shown
