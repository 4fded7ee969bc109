"""Per-layer expert loads: read from a routing trace (CSV) or generated from a spec.

Loads are an integer array `(layers, E)` of expert-token assignments (how many
tokens each routed expert receives in one layer). They feed the expert
placement of docs/model.md §14.

Generated loads are reproducible: the same spec gives the same array on any
machine. An expert serves a token at most once, so no expert gets more than
`tokens / K` assignments (`tokens` counts all K picks of every token); weights
above that cap are water-filled onto the other experts.
"""

from __future__ import annotations

import csv
import functools
import math
import os
import re
import stat
from pathlib import Path

import numpy as np

from formulations.types import Model
from solver.errors import LimitError
from solver.io import limits, numbers

SPEC_FORMS = (
    "zipf[:s=1.0,seed=0]",
    "lognormal[:sigma=1.0,seed=0]",
    "uniform",
)
"""Generator spec forms; every form also takes `tokens=` (per layer) and `layers=`."""

_PARAMS = {
    "zipf": {"s": 1.0, "seed": 0},
    "lognormal": {"sigma": 1.0, "seed": 0},
    "uniform": {},
}
_COMMON = ("tokens", "layers")
_COLUMNS = ("layer", "expert", "tokens")


class LoadsError(ValueError):
    """A loads file or spec the user must fix; the message says where and how."""


def _allowed_forms() -> str:
    return (
        "expected a CSV file with columns layer,expert,tokens or a spec "
        + " | ".join(SPEC_FORMS)
        + " (optional tokens=<assignments per layer>, layers=<count>)"
    )


def _is_spec(text: str) -> bool:
    """A spec is `kind[:key=value,...]` with no path separators and no file extension."""
    return re.fullmatch(r"[A-Za-z_]+(:[^/\\]*)?", text) is not None and not text.endswith(".csv")


def load_expert_loads(spec_or_path: str, model: Model) -> np.ndarray:
    """Expert loads `(layers, E)` in tokens, from a CSV trace or a generator spec.

    Args:
        spec_or_path: a CSV path, or a spec such as `zipf:s=1.1,seed=7`.
        model: gives E (experts), K (top-k, for the default total and the
            per-expert cap) and the MoE layer count (default and range of layers).

    Raises:
        LoadsError: unreadable or malformed file, or a bad spec.
    """
    if _is_spec(spec_or_path) and not _is_file(Path(spec_or_path)):
        return generate_loads(spec_or_path, model)
    path = Path(spec_or_path)
    info = _regular_file(path)
    key = (str(path.resolve()), info.st_size, info.st_mtime_ns, _model_key(model))
    loads = _cached_csv(key, model)
    return loads.copy()


def check_expert_loads(spec_or_path: str, model: Model) -> None:
    """Validate loads without generating them: a spec's ranges and size, or a CSV in full.

    Raises:
        LoadsError: what `load_expert_loads` would raise.
    """
    if _is_spec(spec_or_path) and not _is_file(Path(spec_or_path)):
        kind, params = _parse_spec(spec_or_path)
        _check_spec(spec_or_path, params, model)
        return
    load_expert_loads(spec_or_path, model)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # e.g. a name too long for the file system
        return False


def _model_key(model: Model) -> tuple[int, int]:
    return (model.num_routed_experts, model.num_moe_layers)


@functools.lru_cache(maxsize=8)
def _cached_csv(key: tuple, model: Model) -> np.ndarray:
    """A CSV read once per (file, size, mtime, model shape): validation and solve share it."""
    loads = read_loads_csv(Path(key[0]), model)
    loads.flags.writeable = False
    return loads


def _check_cells(layers: int, experts: int, what: str) -> None:
    try:
        limits.check_load_cells(layers, experts, what)
    except LimitError as exc:
        raise LoadsError(exc.problems[0]) from None


def _regular_file(path: Path) -> os.stat_result:
    """The file's stat if it is a regular file within the size cap, else LoadsError."""
    try:
        info = path.stat()
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise LoadsError(f"{path}: cannot read loads file ({reason}); {_allowed_forms()}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise LoadsError(f"{path}: cannot read loads file ({kind}); {_allowed_forms()}")
    if info.st_size > limits.MAX_LOADS_FILE_BYTES:
        raise LoadsError(
            f"{path}: {info.st_size:,} bytes; a loads file may have at most "
            f"{limits.MAX_LOADS_FILE_BYTES:,} bytes"
        )
    return info


# ---- CSV traces ----


def _parse_int(text: str, what: str, where: str, lo: int, hi: int, top: bool = False) -> int:
    """A whole number in [lo, hi) (`top`: in [lo, hi]), through the one number conversion."""
    bounds = numbers.Bounds(ge=lo, le=hi) if top else numbers.Bounds(ge=lo, lt=hi)
    value, problem = numbers.parse(text, what, integer=True, bounds=bounds)
    if problem:
        raise LoadsError(f"{where}: {problem}")
    return int(value)


def read_loads_csv(path: Path, model: Model) -> np.ndarray:
    """Read `layer,expert,tokens` rows (extra columns ignored, duplicate rows summed).

    Experts missing from a layer count zero tokens. Layers must run from 0 to the
    largest layer present, each with a positive total.
    """
    num_experts, max_layers = model.num_routed_experts, model.num_moe_layers
    _regular_file(path)
    _check_cells(max_layers, num_experts, f"{path}: loads of this model")
    try:
        # UTF-8, a byte-order mark dropped (spreadsheets write one), as every input file.
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(_csv_rows(handle, path, num_experts, max_layers))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise LoadsError(f"{path}: cannot read loads file ({reason}); {_allowed_forms()}") from None
    except UnicodeDecodeError:
        raise LoadsError(f"{path}: not a text CSV file; {_allowed_forms()}") from None
    if not rows:
        raise LoadsError(f"{path}: no data rows after the header line 1")
    num_layers = max(layer for _, layer, _, _ in rows) + 1
    loads = np.zeros((num_layers, num_experts), dtype=np.int64)
    first_line: dict[int, int] = {}
    # At most MAX_LOADS_ROWS rows of at most MAX_TOKENS_PER_ROW each: no int64 overflow.
    for line, layer, expert, tokens in rows:
        loads[layer, expert] += tokens
        first_line.setdefault(layer, line)
    for layer in range(num_layers):
        total = int(loads[layer].sum())
        where = f"line {first_line[layer]}" if layer in first_line else "no rows"
        if total == 0:
            raise LoadsError(
                f"{path}: empty layer {layer} ({where}): every layer in [0, {num_layers}) "
                "needs a positive token total"
            )
        if total > limits.MAX_TOKENS_PER_LAYER:
            raise LoadsError(
                f"{path}: layer {layer} ({where}) totals {total:,} tokens; at most "
                f"{limits.MAX_TOKENS_PER_LAYER:,} per layer"
            )
    return loads


def _csv_rows(handle, path: Path, num_experts: int, max_layers: int):
    """Yield `(line, layer, expert, tokens)` for every data row, checking each field."""
    reader = csv.reader(_capped_lines(handle, path))
    try:
        yield from _checked_rows(reader, path, num_experts, max_layers)
    except csv.Error as exc:
        raise LoadsError(f"{path}: line {reader.line_num}: malformed CSV ({exc})") from None


def _capped_lines(handle, path: Path):
    """The file's lines, refusing one longer than a row can sensibly be."""
    cap = limits.MAX_LOADS_LINE_CHARS
    for number, line in enumerate(iter(lambda: handle.readline(cap + 1), ""), start=1):
        if len(line) > cap and not line.endswith("\n"):
            raise LoadsError(f"{path}: line {number}: longer than {cap:,} characters")
        yield line


def _checked_rows(reader, path: Path, num_experts: int, max_layers: int):
    header = next(reader, None)
    if header is None:
        raise LoadsError(f"{path}: line 1: empty file; {_allowed_forms()}")
    names = [h.strip().lower() for h in header]
    missing = [c for c in _COLUMNS if c not in names]
    if missing:
        raise LoadsError(
            f"{path}: line 1: missing column(s) {', '.join(missing)}; "
            f"the header needs {','.join(_COLUMNS)} (found {','.join(names)})"
        )
    col = {c: names.index(c) for c in _COLUMNS}
    count = 0
    for row in reader:
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        where = f"{path}: line {line}"
        if len(row) <= max(col.values()):
            raise LoadsError(f"{where}: {len(row)} fields, expected at least {len(names)}")
        count += 1
        if count > limits.MAX_LOADS_ROWS:
            raise LoadsError(f"{where}: more than {limits.MAX_LOADS_ROWS:,} data rows")
        layer = _parse_int(row[col["layer"]].strip(), "layer", where, 0, max_layers)
        expert = _parse_int(row[col["expert"]].strip(), "expert", where, 0, num_experts)
        tokens = _parse_int(
            row[col["tokens"]].strip(), "tokens", where, 0, limits.MAX_TOKENS_PER_ROW, top=True
        )
        yield line, layer, expert, tokens


# ---- generated loads ----


MAX_SPEC_CHARS = 200
"""Longest generator spec (the longest sensible one has about 50 characters)."""
MAX_SEED = 2**63 - 1
"""numpy seeds are unbounded; one that fits in 64 bits is plenty."""
MAX_EXPONENT = 100.0
"""Largest Zipf s or lognormal sigma: beyond it every weight underflows but the first."""


def _parse_spec(spec: str) -> tuple[str, dict[str, float]]:
    shown = spec if len(spec) <= 60 else f"{spec[:55]}... ({len(spec):,} chars)"
    if len(spec) > MAX_SPEC_CHARS:
        raise LoadsError(f"loads spec {shown!r}: longer than {MAX_SPEC_CHARS} characters")
    kind, _, rest = spec.partition(":")
    kind = kind.strip().lower()
    if kind not in _PARAMS:
        raise LoadsError(f"unknown loads spec {shown!r}; {_allowed_forms()}")
    params: dict[str, float] = dict(_PARAMS[kind])
    seen: set[str] = set()
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq or (key not in params and key not in _COMMON):
            allowed = ", ".join([*_PARAMS[kind], *_COMMON])
            raise LoadsError(f"loads spec {shown!r}: bad item {item!r} (allowed keys: {allowed})")
        if key in seen:
            raise LoadsError(f"loads spec {shown!r}: {key} given more than once")
        seen.add(key)
        number, problem = numbers.parse(value, key)
        if problem:
            raise LoadsError(f"loads spec {shown!r}: {problem}")
        params[key] = float(number)
    return kind, params


def _check_spec(spec: str, params: dict[str, float], model: Model) -> tuple[int, int, int]:
    """Validate numeric ranges and the array size; return (tokens per layer, layers, seed)."""
    k = model.experts_per_token
    tokens = params.get("tokens", 4096 * k)
    layers = params.get("layers", model.num_moe_layers)
    seed = params.get("seed", 0)
    checks = [
        ("tokens", tokens, 1, limits.MAX_TOKENS_PER_LAYER),
        ("layers", layers, 1, model.num_moe_layers),
        ("seed", seed, 0, MAX_SEED),
    ]
    for key, value, lo, hi in checks:
        if not float(value).is_integer() or not lo <= value <= hi:
            top = f"{hi:,}" + (" (the model's MoE layers)" if key == "layers" else "")
            raise LoadsError(
                f"loads spec {spec!r}: {key}={value:g} must be a whole number >= {lo} and <= {top}"
            )
    for key in ("s", "sigma"):
        if key in params and not 0 <= params[key] <= MAX_EXPONENT:
            raise LoadsError(
                f"loads spec {spec!r}: {key}={params[key]:g} must be >= 0 and <= {MAX_EXPONENT:g}"
            )
    _check_cells(int(layers), model.num_routed_experts, f"loads spec {spec!r}")
    return int(tokens), int(layers), int(seed)


def generate_loads(spec: str, model: Model) -> np.ndarray:
    """Reproducible synthetic loads `(layers, E)` from a spec (see `SPEC_FORMS`).

    Zipf gives the expert of popularity rank i the weight i^-s, with ranks freshly
    permuted per layer so hot experts differ between layers; lognormal draws
    exp(N(0, sigma^2)) weights; uniform weights are equal. Weights become integer
    loads summing to `tokens` by capped largest-remainder apportionment.
    """
    kind, params = _parse_spec(spec)
    total, layers, seed = _check_spec(spec, params, model)
    num_experts, k = model.num_routed_experts, model.experts_per_token
    cap = math.ceil(total / k)
    rng = np.random.default_rng(seed)
    out = np.empty((layers, num_experts), dtype=np.int64)
    for layer in range(layers):
        if kind == "zipf":
            weights = np.empty(num_experts)
            weights[rng.permutation(num_experts)] = np.arange(1, num_experts + 1) ** -params["s"]
        elif kind == "lognormal":
            weights = rng.lognormal(0.0, params["sigma"], num_experts)
        else:
            weights = np.ones(num_experts)
        out[layer] = apportion(weights, total, cap)
    return out


def apportion(weights: np.ndarray, total: int, cap: int) -> np.ndarray:
    """Integer shares of `total` proportional to `weights`, none above `cap`.

    Water-fills the capped shares (experts above the cap are clipped and the rest
    rescaled), then hands out the remainder by largest fractional part, ties to
    the lower index, so the result is deterministic.
    """
    weights = np.asarray(weights, dtype=float)
    if cap * len(weights) < total:
        raise LoadsError(f"cannot place {total} tokens on {len(weights)} experts of cap {cap}")
    share = np.zeros_like(weights)
    free = np.ones(len(weights), dtype=bool)
    left = float(total)
    while free.any():
        share[free] = left * weights[free] / weights[free].sum()
        over = free & (share > cap)
        if not over.any():
            break
        share[over] = cap
        free &= ~over
        left = total - share[~free].sum()
    base = np.minimum(np.floor(share + 1e-9), cap).astype(np.int64)
    remainder = total - int(base.sum())
    room = base < cap
    frac = np.where(room, share - base, -np.inf)
    order = np.lexsort((np.arange(len(weights)), -frac))
    base[order[:remainder]] += 1
    return base
