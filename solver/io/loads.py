"""Per-layer expert loads: read from a routing trace (CSV) or generated from a spec.

Loads are an integer array `(layers, E)` of expert-token assignments (how many
tokens each routed expert receives in one layer). They feed the expert
placement of MODEL.md section 7.

Generated loads are reproducible: the same spec gives the same array on any
machine. An expert serves a token at most once, so no expert gets more than
`tokens / K` assignments (`tokens` counts all K picks of every token); weights
above that cap are water-filled onto the other experts.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np

from formulations.types import Model

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
    if _is_spec(spec_or_path) and not Path(spec_or_path).is_file():
        return generate_loads(spec_or_path, model)
    return read_loads_csv(Path(spec_or_path), model)


# ---- CSV traces ----


def _parse_int(text: str, what: str, where: str, lo: int, hi: int | None) -> int:
    allowed = f"[{lo}, {hi})" if hi is not None else f">= {lo}"
    try:
        value = float(text)
    except ValueError:
        raise LoadsError(f"{where}: {what} {text!r} is not a number (allowed {allowed})") from None
    if not math.isfinite(value) or not value.is_integer():
        raise LoadsError(f"{where}: {what} {text!r} is not a whole number (allowed {allowed})")
    if value < lo or (hi is not None and value >= hi):
        raise LoadsError(f"{where}: {what} {int(value)} is out of range (allowed {allowed})")
    return int(value)


def read_loads_csv(path: Path, model: Model) -> np.ndarray:
    """Read `layer,expert,tokens` rows (extra columns ignored, duplicate rows summed).

    Experts missing from a layer count zero tokens. Layers must run from 0 to the
    largest layer present, each with a positive total.
    """
    num_experts, max_layers = model.num_routed_experts, model.num_moe_layers
    try:
        with path.open(newline="") as handle:
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
    for line, layer, expert, tokens in rows:
        loads[layer, expert] += tokens
        first_line.setdefault(layer, line)
    for layer in range(num_layers):
        if loads[layer].sum() == 0:
            where = f"line {first_line[layer]}" if layer in first_line else "no rows"
            raise LoadsError(
                f"{path}: empty layer {layer} ({where}): every layer in [0, {num_layers}) "
                "needs a positive token total"
            )
    return loads


def _csv_rows(handle, path: Path, num_experts: int, max_layers: int):
    """Yield `(line, layer, expert, tokens)` for every data row, checking each field."""
    reader = csv.reader(handle)
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
    for row in reader:
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        where = f"{path}: line {line}"
        if len(row) <= max(col.values()):
            raise LoadsError(f"{where}: {len(row)} fields, expected at least {len(names)}")
        layer = _parse_int(row[col["layer"]].strip(), "layer", where, 0, max_layers)
        expert = _parse_int(row[col["expert"]].strip(), "expert", where, 0, num_experts)
        tokens = _parse_int(row[col["tokens"]].strip(), "tokens", where, 0, None)
        yield line, layer, expert, tokens


# ---- generated loads ----


def _parse_spec(spec: str) -> tuple[str, dict[str, float]]:
    kind, _, rest = spec.partition(":")
    kind = kind.strip().lower()
    if kind not in _PARAMS:
        raise LoadsError(f"unknown loads spec {spec!r}; {_allowed_forms()}")
    params: dict[str, float] = dict(_PARAMS[kind])
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq or (key not in params and key not in _COMMON):
            allowed = ", ".join([*_PARAMS[kind], *_COMMON])
            raise LoadsError(f"loads spec {spec!r}: bad item {item!r} (allowed keys: {allowed})")
        try:
            params[key] = float(value)
        except ValueError:
            raise LoadsError(f"loads spec {spec!r}: {key}={value!r} is not a number") from None
    return kind, params


def _check_spec(spec: str, params: dict[str, float], model: Model) -> tuple[int, int, int]:
    """Validate numeric ranges; return (tokens per layer, layers, seed)."""
    k = model.experts_per_token
    tokens = params.get("tokens", 4096 * k)
    layers = params.get("layers", model.num_moe_layers)
    seed = params.get("seed", 0)
    checks = [
        ("tokens", tokens, 1, "a whole number >= 1"),
        ("layers", layers, 1, "a whole number >= 1"),
        ("seed", seed, 0, "a whole number >= 0"),
    ]
    for key, value, lo, allowed in checks:
        if not float(value).is_integer() or value < lo:
            raise LoadsError(f"loads spec {spec!r}: {key}={value:g} must be {allowed}")
    for key in ("s", "sigma"):
        if key in params and not (math.isfinite(params[key]) and params[key] >= 0):
            raise LoadsError(f"loads spec {spec!r}: {key}={params[key]:g} must be >= 0")
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
