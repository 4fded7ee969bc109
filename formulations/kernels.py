"""Times of single kernels, as the cost model sees them (docs/model.md §19.2).

`afd-solver calibrate` compares these with what a team measured on its own cluster (the tables
DeepGEMM, FlashMLA and DeepEP print). Each is one term of the stage costs of §4-§6, with the
stage's fixed time of §3.1, on one GPU:

- grouped GEMM, one call over `groups` experts of `tokens_per_expert` tokens each, an
  `n x k` weight per expert: `lat / 2 + max(2 m n k G / r(m), G n k w / B_hbm)`. A layer's
  expert stage runs two such calls (gate/up, then down), so one call carries half of the
  stage's fixed time;
- attention core (FlashMLA-style), `batch` sequences of `q` tokens at `ctx` cached tokens:
  `lat + max(b q f_score ctx_eff / R_core, b kv ctx_eff w_kv / B_hbm)`; the projections are
  not part of the kernel;
- dispatch or combine on one tier, one rank sending `tokens` token copies of `hidden`
  elements of `bytes_per_element`: `lat + tokens hidden bytes / B_tier`;
- all-reduce (TP, §20.4) of `tokens` hidden states over `t` GPUs of one scale-up domain:
  `lat_ar + 2 (t - 1) / t tokens hidden bytes / B_su` (a TP layer runs two).

Everything is vectorised over rows (numpy arrays that broadcast).
"""

from __future__ import annotations

import numpy as np

from formulations.attention import effective_context, geometry
from formulations.costs import Num, Rates
from formulations.types import Model


def grouped_gemm_time_s(
    rates: Rates, tokens_per_expert: Num, n: Num, k: Num, groups: Num, weight_bytes: Num
) -> np.ndarray:
    """One grouped-GEMM call of `groups` experts (docs/model.md §5.2, §19.2)."""
    m = np.asarray(tokens_per_expert, dtype=float)
    flops = 2.0 * m * np.asarray(n) * np.asarray(k) * np.asarray(groups)
    weights = np.asarray(groups) * np.asarray(n) * np.asarray(k) * np.asarray(weight_bytes)
    compute = flops / rates.gemm_rate_flops(m)
    return rates.gemm_latency_s / 2.0 + np.maximum(compute, weights / rates.hbm_bytes_per_s)


def grouped_gemm_flops(tokens_per_expert: Num, n: Num, k: Num, groups: Num) -> np.ndarray:
    """FLOPs of one grouped-GEMM call: 2 m n k per expert (2 FLOP per multiply-add)."""
    return (
        2.0
        * np.asarray(tokens_per_expert, dtype=float)
        * np.asarray(n)
        * np.asarray(k)
        * np.asarray(groups)
    )


def attention_core_flops(
    model: Model, batch: Num, context_tokens: Num, tokens_per_sequence: Num
) -> np.ndarray:
    """FLOPs of one decode attention-core call: b q f_score ctx_eff (docs/model.md §4.5)."""
    ctx = _context(model, context_tokens)
    per_token = geometry(model).score_flops_per_ctx * ctx
    return np.asarray(batch, dtype=float) * np.asarray(tokens_per_sequence) * per_token


def attention_core_time_s(
    rates: Rates,
    model: Model,
    batch: Num,
    context_tokens: Num,
    tokens_per_sequence: Num,
    kv_bytes: Num,
) -> np.ndarray:
    """One decode attention-core call: the roofline of §4.5 without the projections."""
    ctx = _context(model, context_tokens)
    flop_s = attention_core_flops(model, batch, context_tokens, tokens_per_sequence)
    flop_s = flop_s / rates.attention_core_flops
    read = np.asarray(batch, dtype=float) * geometry(model).kv_elements_per_token * ctx
    byte_s = read * np.asarray(kv_bytes) / rates.hbm_bytes_per_s
    return rates.attention_latency_s + np.maximum(flop_s, byte_s)


def wire_time_s(
    rates: Rates, kind: str, tier: str, tokens: Num, hidden: Num, bytes_per_element: Num
) -> np.ndarray:
    """One dispatch (`kind` "dispatch") or combine on tier "scale_up" or "scale_out" (§6.1)."""
    bytes_per_s, latency = rates.link(tier)
    fixed = latency[0] if kind == "dispatch" else latency[1]
    moved = np.asarray(tokens, dtype=float) * np.asarray(hidden) * np.asarray(bytes_per_element)
    return fixed + moved / bytes_per_s


def allreduce_time_s(
    rates: Rates, ranks: Num, tokens: Num, hidden: Num, bytes_per_element: Num
) -> np.ndarray:
    """One ring all-reduce of `tokens` hidden states over `ranks` GPUs of one scale-up domain
    (§20.4): its fixed time plus 2 (t - 1) / t of the data per GPU at the scale-up rate;
    nothing on one GPU."""
    t = np.asarray(ranks, dtype=float)
    data = np.asarray(tokens, dtype=float) * np.asarray(hidden) * np.asarray(bytes_per_element)
    ring = rates.allreduce_latency_s + 2.0 * (t - 1.0) / t * data / rates.scaleup_bytes_per_s
    return np.where(t > 1, ring, 0.0)


def _context(model: Model, context_tokens: Num) -> np.ndarray:
    ctx = np.asarray(context_tokens, dtype=float)
    return np.vectorize(lambda c: effective_context(model, float(c)), otypes=[float])(ctx)
