"""Attention geometry: weights, KV cache and FLOPs from the architecture (docs/model.md §1.1, §4.1).

Decode-time conventions (one new token attending to `ctx` cached tokens):
- MLA runs weight-absorbed: W_UK folds into the query and W_UV into the
  output, so attention reads only the latent cache of `kv_lora_rank +
  qk_rope_head_dim` elements per token and layer. Score FLOPs use all 576
  latent+RoPE dims, the value product the 512 latent dims.
- GQA/MHA cache K and V for every KV head; MFA (Step-3) is GQA with a low-rank
  query and one KV head.
- A sliding window (gpt-oss) caps the context of `sliding_window_fraction`
  of the layers.
FLOPs count a multiply-add as 2. These conventions reproduce the per-model KV
sizes and FLOPs that the Step-3 paper (arXiv 2507.19427, Table 2) tabulates.
"""

from __future__ import annotations

from dataclasses import dataclass

from formulations.types import Model


@dataclass(frozen=True)
class AttentionGeometry:
    """Per-layer attention quantities of one model (elements and parameters, not bytes)."""

    projection_params: int
    """Parameters of all attention projections in one layer (absorbed form for MLA)."""
    stored_params: int
    """Parameters as stored in the checkpoint (differs from projection_params for MLA)."""
    kv_elements_per_token: int
    """Cached elements per token per layer."""
    score_flops_per_ctx: int
    """FLOPs per query token per cached token (QK^T and PV), per layer."""


def _required(model: Model, *names: str) -> list[int]:
    values = [getattr(model, n) for n in names]
    missing = [n for n, v in zip(names, values, strict=True) if v is None]
    if missing:
        raise ValueError(
            f"model {model.name}: attention '{model.attention}' needs {', '.join(missing)}"
        )
    return values


def geometry(model: Model) -> AttentionGeometry:
    """Derive the attention geometry of `model` from its config fields."""
    hidden, heads = model.hidden_size, model.num_attention_heads
    if model.attention == "mla":
        kv_lora, rope, nope, v_dim = _required(
            model, "kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim"
        )
        if model.q_lora_rank:
            q_params = hidden * model.q_lora_rank + model.q_lora_rank * heads * (nope + rope)
        else:
            q_params = hidden * heads * (nope + rope)
        kv_a = hidden * (kv_lora + rope)
        out = heads * v_dim * hidden
        stored = q_params + kv_a + kv_lora * heads * (nope + v_dim) + out
        # Absorbed decode: q_nope -> latent (heads*nope*kv_lora) and latent -> v (heads*kv_lora*v).
        absorbed = q_params + kv_a + heads * nope * kv_lora + heads * kv_lora * v_dim + out
        return AttentionGeometry(
            projection_params=absorbed,
            stored_params=stored,
            kv_elements_per_token=kv_lora + rope,
            score_flops_per_ctx=2 * heads * (kv_lora + rope) + 2 * heads * kv_lora,
        )
    if model.attention in ("gqa", "mha", "mfa"):
        (head_dim,) = _required(model, "head_dim")
        if model.attention == "mha":
            kv_heads = heads
        else:
            (kv_heads,) = _required(model, "num_kv_heads")
        if model.attention == "mfa":
            (q_lora,) = _required(model, "q_lora_rank")
            q_params = hidden * q_lora + q_lora * heads * head_dim
        else:
            q_params = hidden * heads * head_dim
        params = q_params + 2 * hidden * kv_heads * head_dim + heads * head_dim * hidden
        return AttentionGeometry(
            projection_params=params,
            stored_params=params,
            kv_elements_per_token=2 * kv_heads * head_dim,
            score_flops_per_ctx=4 * heads * head_dim,
        )
    raise ValueError(f"model {model.name}: unknown attention type '{model.attention}'")


def effective_context(model: Model, context_tokens: float) -> float:
    """Mean cached tokens per layer: sliding-window layers see at most the window."""
    if model.sliding_window is None:
        return float(context_tokens)
    windowed = min(float(context_tokens), float(model.sliding_window))
    frac = model.sliding_window_fraction
    return (1.0 - frac) * float(context_tokens) + frac * windowed


def total_params(model: Model) -> float:
    """Total parameters (stored form) implied by the architecture, for checks against catalogues."""
    geo = geometry(model)
    hidden = model.hidden_size
    shared = model.shared_intermediate_size or model.moe_intermediate_size
    routed = model.num_routed_experts * 3 * hidden * model.moe_intermediate_size
    moe_layer = routed + model.num_shared_experts * 3 * hidden * shared
    dense_layer = 3 * hidden * (model.dense_intermediate_size or 0)
    return float(
        model.num_layers * geo.stored_params
        + model.num_moe_layers * moe_layer
        + model.num_dense_layers * dense_layer
        + 2 * model.vocab_size * hidden
    )
