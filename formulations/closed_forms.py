"""Closed forms of docs/model.md §8 and §13, computed through the cost model.

- `ffn_regimes`: the FFN side of AFD as N_F grows, at the wire-bound load
  (the most expert-token pairs one FFN GPU can receive per stage budget):
  scale-up bound while K/N_F > B_up/B_out, then scale-out bound with stable
  intensity, the dead zone once N_F >= K (pairs per GPU stop growing), and
  maximum intensity at one expert per GPU.
- `hfu_ceiling`: HFU = 2 B_link M / FLOPS, B_link = min(B_out max(1, K/N_F), B_up),
  maximised over the N_F whose experts fit and whose grouped GEMM meets t_B. A cell that
  cannot reach it (experts do not fit, or the grouped GEMM cannot finish the wire-bound load
  within t_B: the communication-bound HFU would exceed what compute allows) is HBM-limited and
  reports the HFU it does reach.
- The imbalance retention factors alpha of section 6.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from formulations import afd
from formulations.costs import CostModel, experts_per_gpu
from formulations.layouts import fits as within

REGIMES = ("scale-up", "stable", "dead-zone", "max-intensity")


def _ffn_side(
    cm: CostModel, ffn_nodes: int, micro_batches: int, tokens: float, inside: bool
) -> dict[str, np.ndarray]:
    """The FFN pool of N_F units receiving `tokens` per micro-batch, N_BO micro-batches in
    flight, no redundant experts, balanced (docs/model.md §5-§7)."""
    return {
        **afd.ffn_times(cm, ffn_nodes, 0, tokens, inside),
        **afd.ffn_memory(cm, ffn_nodes, 0, micro_batches * tokens),
    }


@dataclass(frozen=True)
class FfnPoint:
    """The FFN side of AFD at one N_F, loaded to its wire limit."""

    ffn_nodes: int
    experts_per_gpu: int
    tokens_per_rank: float
    """Expert-token pairs per FFN GPU per stage budget (B_rank) at the wire limit."""
    intensity_continuous: float
    """FLOP per weight byte with fractional experts per GPU, E / (N_F g)."""
    intensity_discrete: float
    """FLOP per weight byte with whole experts per GPU, ceil(E / (N_F g))."""
    hfu: float
    regime: str
    link: str
    """The link that caps the load: scale-out or scale-up."""
    fits: bool
    """Experts fit in HBM and streaming their weights meets the budget."""
    hfu_feasible: float
    """HFU at the load the grouped GEMM can also finish within the budget (<= hfu)."""


def ffn_point(cm: CostModel, ffn_nodes: int, micro_batches: int = 3) -> FfnPoint:
    """Load one N_F to its wire limit and classify its regime (docs/model.md §13)."""
    m = cm.model
    g = cm.unit_gpus
    budget = float(cm.stage_budget_s(micro_batches))
    inside = bool(cm.superpod and ffn_nodes <= cm.domain_units)
    # Stage times are linear in the tokens: time per token gives the wire limit directly.
    probe = _ffn_side(cm, ffn_nodes, micro_batches, 1.0, inside)
    per_token_out = float(probe["ffn_scaleout_s"])
    per_token_up = float(probe["ffn_scaleup_s"])
    tokens_out = budget / per_token_out if per_token_out > 0 else math.inf
    tokens_up = budget / per_token_up
    tokens = min(tokens_out, tokens_up)
    link = "scale-up" if tokens_up <= tokens_out else "scale-out"
    side = _ffn_side(cm, ffn_nodes, micro_batches, tokens, inside)
    pairs = float(side["pairs_mean"])
    experts = int(experts_per_gpu(m, 0, ffn_nodes * g))
    weight_bytes = m.expert_weight_bytes
    continuous = 2.0 * pairs / (m.num_routed_experts / (ffn_nodes * g) * weight_bytes)
    discrete = 2.0 * pairs / (experts * weight_bytes)
    hfu = float(cm.expert_flops(pairs)) / (budget * cm.ffn_rates.peak_fp8_flops)
    if link == "scale-up":
        regime = "scale-up"
    elif experts == 1:
        regime = "max-intensity"
    elif ffn_nodes >= m.experts_per_token:
        regime = "dead-zone"
    else:
        regime = "stable"
    # The grouped GEMM may not finish the wire-bound load in time: shrink the load until it does.
    if float(side["gemm_compute_s"]) > budget:
        tokens = _largest(
            lambda x: (
                float(_ffn_side(cm, ffn_nodes, micro_batches, x, inside)["gemm_compute_s"])
                <= budget
            ),
            tokens,
        )
        side = _ffn_side(cm, ffn_nodes, micro_batches, tokens, inside)
    hfu_feasible = float(cm.expert_flops(side["pairs_mean"])) / (
        budget * cm.ffn_rates.peak_fp8_flops
    )
    fits = bool(
        within(side["ffn_bytes"], cm.usable_bytes("ffn")) and within(side["gemm_weight_s"], budget)
    )
    return FfnPoint(
        ffn_nodes, experts, pairs, continuous, discrete, hfu, regime, link, fits, hfu_feasible
    )


def _largest(ok: Callable[[float], bool], hi: float, steps: int = 60) -> float:
    """Largest x in [0, hi] with ok(x), for monotone ok, by bisection."""
    lo = 0.0
    for _ in range(steps):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


def ffn_regimes(cm: CostModel, ffn_nodes: list[int], micro_batches: int = 3) -> list[FfnPoint]:
    return [ffn_point(cm, n, micro_batches) for n in ffn_nodes]


def hfu_closed_form(cm: CostModel, ffn_nodes: int) -> float:
    """HFU = 2 B_link M / FLOPS (docs/model.md §13), with the instance's sustained links."""
    m, r = cm.model, cm.rates
    inside = bool(cm.superpod and ffn_nodes <= cm.domain_units)
    out = r.scaleup_bytes_per_s if inside else r.scaleout_bytes_per_s
    fanout = m.experts_per_token / float(cm.fanout_units(ffn_nodes))
    link = min(out * max(1.0, fanout), r.scaleup_bytes_per_s)
    # 3H bytes per token on the wire; the closed form assumes that wire format.
    link *= 3 * m.hidden_size / cm.token_wire_bytes
    return 2.0 * link * m.moe_intermediate_size / r.peak_fp8_flops


@dataclass(frozen=True)
class Ceiling:
    hfu: float
    best_ffn_nodes: int | None
    limited_by: str
    """The link that sets the ceiling, or HBM-limited when the best N_F does not fit."""


def hfu_ceiling(cm: CostModel, ffn_nodes: list[int], micro_batches: int = 3) -> Ceiling:
    """Communication-bound FFN HFU ceiling over the N_F that fit (docs/model.md §13)."""
    points = ffn_regimes(cm, ffn_nodes, micro_batches)
    best_any = max(p.hfu for p in points)
    feasible = [p for p in points if p.fits]
    if not feasible:
        return Ceiling(0.0, None, "HBM-limited")
    # Best HFU the FFN pool really reaches: wire-bound, unless the GEMM cannot keep up.
    top = max(p.hfu_feasible for p in feasible)
    # Fewest FFN nodes among the (numerically) equal best: the cheapest way to the ceiling.
    best = min(
        (p for p in feasible if p.hfu_feasible >= top * (1 - 1e-9)), key=lambda p: p.ffn_nodes
    )
    reached = best.hfu_feasible >= best_any * (1 - 1e-9)
    return Ceiling(best.hfu_feasible, best.ffn_nodes, best.link if reached else "HBM-limited")


# ---- docs/model.md §8.4: imbalance retention -------------------------------------------------


def alpha_ep(sigma: float, lam: float) -> float:
    """EP rebalances its batch: (lam + 1) / (lam + 1/sigma), lam = t_a / t_f."""
    return (lam + 1.0) / (lam + 1.0 / sigma)


def alpha_exact(sigma: float, n_a: float, n_f: float) -> float:
    """AFD with continuous units: sigma (N_A + N_F) / (sigma N_A + N_F)."""
    return sigma * (n_a + n_f) / (sigma * n_a + n_f)


def alpha_floor(sigma: float, n_a: int, n_f: int) -> float:
    """AFD keeping floor(sigma N_A) attention units at the full batch."""
    k = math.floor(sigma * n_a + 1e-12)
    return (n_a + n_f) / n_a * k / (k + n_f)


def alpha_ceil(sigma: float, n_a: int, n_f: int) -> float:
    """AFD keeping ceil(sigma N_A) attention units at a batch shrunk by sigma N_A / ceil
    (at least one unit: a tiny sigma N_A still needs an attention unit to run on)."""
    k = max(1, math.ceil(sigma * n_a - 1e-12))
    return (n_a + n_f) / n_a * k / (k + n_f) * (sigma * n_a) / k


def alpha_afd(sigma: float, n_a: int, n_f: int) -> float:
    """Whole-unit AFD retention: the better of rounding sigma N_A down or up.

    docs/model.md §8.4 uses the prefactor (N_A + N_F) / N_A where the paper prints
    (lam + 1); only this form stays <= 1 and equals alpha_exact when sigma N_A is whole.
    """
    return max(alpha_floor(sigma, n_a, n_f), alpha_ceil(sigma, n_a, n_f))
