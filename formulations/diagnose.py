"""Say, in words and numbers, why an instance has no feasible deployment.

Every constraint family is monotone in the batch, so a family that fails on
its most favourable layout at the smallest batch the search allows makes
the instance infeasible on its own; that family is named with the figures
that break it. When every family holds on some layout but no layout
satisfies all of them at once, the message lists the families that clash.
"""

from __future__ import annotations

import numpy as np

from formulations import deployment as dep
from formulations.costs import CostModel
from formulations.layouts import ImbalanceFn, afd_layouts, constant_imbalance, ep_layouts
from formulations.types import Deployment, Instance

GB = 1e9


def _us(x: float) -> str:
    return f"{x * 1e6:.1f} us"


def _budget_reason(cm: CostModel, micro_batches: int) -> str | None:
    if cm.stage_budget_s(micro_batches) > 0:
        return None
    w = cm.workload
    step_ms = cm.step_time_s() * 1e3
    return (
        f"latency budget: tpot_ms x mtp_acceptance = {step_ms:.1f} ms per step leaves no time "
        f"after step_gap_ms = {w.step_gap_ms:g} ms"
    )


def _afd_family_reason(cm: CostModel, family: str, d: Deployment, budget: float, eps: float) -> str:
    s = dep.afd_stages(
        cm,
        d.n_attention,
        d.n_ffn,
        d.seqs_per_gpu,
        d.redundant,
        d.micro_batches,
        eps,
    )
    usable = cm.rates.hbm_usable_bytes
    f, b, a = d.ffn_units, d.seqs_per_gpu, d.attention_units
    g = cm.unit_gpus
    if family == "ffn:hbm_capacity":
        gpus = int(f or 0) * g
        need = float(s.ffn_bytes) * gpus
        return (
            f"FFN memory: experts need {need / GB:.0f} GB ({int(s.experts_per_gpu)} per GPU over "
            f"{cm.model.num_moe_layers} MoE layers), the FFN pool of {f} node(s) has "
            f"{usable * gpus / GB:.0f} GB usable; allow more FFN nodes"
        )
    if family == "attention:hbm_capacity":
        return (
            f"attention memory: one attention GPU needs {float(s.attention_bytes) / GB:.1f} GB "
            f"(weights {cm.attention_static_bytes / GB:.1f} GB plus KV cache of {b} sequence(s) x "
            f"{d.micro_batches} micro-batches at {cm.workload.context_tokens:g} tokens), it has "
            f"{usable / GB:.1f} GB usable"
        )
    if family == "attention:latency":
        return (
            f"attention time: {b} sequence(s) take {_us(float(s.attention_s))} per layer stage, "
            f"over the {_us(budget)} budget"
        )
    if family == "attention:wire":
        return (
            f"attention link: sending {b} sequence(s) to the FFN pool takes "
            f"{_us(float(s.attention_wire_s))}, over the {_us(budget)} budget"
        )
    if family == "ffn:gemm":
        return (
            f"FFN grouped GEMM: {int(s.experts_per_gpu)} experts per GPU take "
            f"{_us(float(s.gemm_s))} (weights alone {_us(float(s.gemm_weight_s))}), over the "
            f"{_us(budget)} budget even with {f} FFN node(s)"
        )
    link = "scale-out" if family == "ffn:scale_out" else "scale-up"
    time_s = float(s.ffn_scaleout_s if family == "ffn:scale_out" else s.ffn_scaleup_s)
    return (
        f"FFN {link}: the tokens of {a} attention node(s) x {b} sequence(s) take {_us(time_s)} "
        f"on the hottest FFN GPU's link, over the {_us(budget)} budget"
    )


def _diagnose_afd(inst: Instance, cm: CostModel, imbalance: ImbalanceFn) -> str:
    s = inst.search
    reasons: list[str] = []
    for nbo in s.afd_micro_batches.values():
        budget_reason = _budget_reason(cm, nbo)
        if budget_reason:
            return budget_reason
        lay = afd_layouts(
            cm,
            nbo,
            s,
            imbalance,
            keep_infeasible=True,
        )
        if len(lay) == 0:
            return _no_layout_reason(inst, "afd")
        budget = float(cm.stage_budget_s(nbo))
        b_lo = s.sequences_per_gpu.lo
        need_slots = lay.attention_lo * b_lo
        for family, caps in lay.seq_caps.items():
            if (caps < b_lo).all():
                c = int(np.argmax(caps))
                reasons.append(
                    _afd_family_reason(
                        cm, family, _afd_at(lay, c, b_lo, nbo), budget, float(lay.eps[c])
                    )
                )
        for family, caps in lay.slot_caps.items():
            if (caps < need_slots).all():
                c = int(np.argmax(caps - need_slots))
                reasons.append(
                    _afd_family_reason(
                        cm, family, _afd_at(lay, c, b_lo, nbo), budget, float(lay.eps[c])
                    )
                )
        if reasons:
            return "; ".join(dict.fromkeys(reasons))
        if ((lay.seq_cap() >= b_lo) & (lay.slot_cap() >= need_slots)).any():
            return _demand_reason(inst)
        clash = [k for k, v in {**lay.seq_caps}.items() if (v < b_lo).any()] + [
            k for k, v in lay.slot_caps.items() if (v < need_slots).any()
        ]
        reasons.append(
            "no FFN layout satisfies " + " and ".join(clash) + " together at "
            f"{b_lo} sequence(s) per GPU"
        )
    return "; ".join(dict.fromkeys(reasons))


def _afd_at(lay, c: int, seqs: int, nbo: int) -> Deployment:
    return Deployment(
        "afd",
        seqs,
        nbo,
        int(lay.redundant[c]),
        attention_units=int(lay.attention_lo[c]),
        ffn_units=int(lay.ffn_units[c]),
    )


def _diagnose_ep(inst: Instance, cm: CostModel, imbalance: ImbalanceFn) -> str:
    s = inst.search
    reasons: list[str] = []
    for nbo in s.ep_micro_batches.values():
        budget_reason = _budget_reason(cm, nbo)
        if budget_reason:
            return budget_reason
        lay = ep_layouts(
            cm,
            nbo,
            s,
            imbalance,
            keep_infeasible=True,
        )
        if len(lay) == 0:
            return _no_layout_reason(inst, "ep")
        b_lo = s.sequences_per_gpu.lo
        budget = float(cm.stage_budget_s(nbo))
        for family, caps in lay.seq_caps.items():
            if (caps >= b_lo).any():
                continue
            c = int(np.argmax(caps))
            e = dep.ep_stages(
                cm, int(lay.units[c]), b_lo, int(lay.redundant[c]), nbo, float(lay.eps[c])
            )
            n = int(lay.units[c])
            if family == "ep:hbm_capacity":
                reasons.append(
                    f"EP memory: a GPU needs {float(e.gpu_bytes) / GB:.1f} GB (attention weights, "
                    f"{int(e.experts_per_gpu)} experts per layer, KV of {b_lo} sequence(s)) even "
                    f"with {n} node(s); it has {cm.rates.hbm_usable_bytes / GB:.1f} GB usable"
                )
            elif family == "ep:latency":
                reasons.append(
                    f"EP time: attention plus grouped GEMM of {b_lo} sequence(s) take "
                    f"{_us(float(e.attention_s + e.gemm_s))}, over the {_us(budget)} budget"
                )
            else:
                link = "scale-out" if family == "ep:scale_out" else "scale-up"
                t = float(e.scaleout_s if family == "ep:scale_out" else e.scaleup_s)
                reasons.append(
                    f"EP {link}: the all-to-all of {b_lo} sequence(s) takes {_us(t)}, over the "
                    f"{_us(budget)} budget"
                )
        if reasons:
            return "; ".join(dict.fromkeys(reasons))
        if (lay.seq_cap() >= b_lo).any():
            return _demand_reason(inst)
        clash = [k for k, v in lay.seq_caps.items() if (v < b_lo).any()]
        reasons.append("no EP layout satisfies " + " and ".join(clash) + " together")
    return "; ".join(dict.fromkeys(reasons))


def _no_layout_reason(inst: Instance, arch: str) -> str:
    s = inst.search
    if s.max_gpus is not None:
        return (
            f"search: max_gpus = {s.max_gpus} leaves no {arch.upper()} deployment "
            "within the node limits"
        )
    if s.experts_per_gpu is not None:
        rng = s.experts_per_gpu
        return f"search: no {arch.upper()} layout has experts_per_gpu in [{rng.lo}, {rng.hi}]"
    return f"search: the node limits leave no {arch.upper()} layout (superpod domain too small?)"


def _demand_reason(inst: Instance) -> str:
    if inst.search.objective == "min_gpus":
        return (
            f"demand: {inst.workload.demand_tokens_per_s:g} tokens/s is more than any deployment "
            "within the node limits serves; raise the node limits"
        )
    return "no deployment satisfies all constraints together"


def diagnose(inst: Instance, arch: str, imbalance: ImbalanceFn | None = None) -> str:
    """One sentence (or a few, joined by '; ') saying why `arch` has no feasible deployment."""
    cm = CostModel.of(inst)
    imbalance = imbalance or constant_imbalance(inst.workload.expert_imbalance)
    if arch == "afd":
        return _diagnose_afd(inst, cm, imbalance)
    return _diagnose_ep(inst, cm, imbalance)
