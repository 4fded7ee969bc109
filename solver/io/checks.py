"""Cross-field rules of instance files, one function per rule; each says how to fix it.

Rules take the validated object or a `schema.Partial` of its valid fields; a rule
that reads a field which failed its own check raises `schema.Unjudged` and is
skipped (`run`), so one pass reports every problem that can be judged.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from typing import Any

from formulations import archspec
from formulations.types import ARCHITECTURES, Search
from solver.io import limits, numbers
from solver.io.schema import Unjudged

Rule = Callable[[Any], list[str]]

_ATTENTION_FIELDS = {
    "mla": ("kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim"),
    "gqa": ("num_kv_heads", "head_dim"),
    "mha": ("head_dim",),
    "mfa": ("num_kv_heads", "head_dim", "q_lora_rank"),
}
MAX_CALIBRATION_TOKENS = 1e9
"""Largest calibrated tokens per expert (a billion)."""
MAX_CALIBRATION_TFLOPS = 1e6
"""Largest calibrated rate: the fp8_tflops bound."""


def run(rules: Iterable[Rule], obj: Any) -> list[str]:
    """Every problem the rules find; a rule that needs an invalid field is skipped."""
    problems: list[str] = []
    for rule in rules:
        try:
            problems += rule(obj)
        except Unjudged:
            continue
    return problems


# ---- model ----


def _attention_fields(m: Any) -> list[str]:
    return [
        f"{name}: missing, required by attention = '{m.attention}'"
        for name in _ATTENTION_FIELDS.get(m.attention, ())
        if getattr(m, name) is None
    ]


def _dense_layers(m: Any) -> list[str]:
    if m.num_dense_layers >= m.num_layers:
        return [
            f"num_dense_layers = {m.num_dense_layers} must be below num_layers = {m.num_layers}"
        ]
    return []


def _top_k(m: Any) -> list[str]:
    if m.experts_per_token > m.num_routed_experts:
        return [
            f"experts_per_token = {m.experts_per_token} exceeds num_routed_experts = "
            f"{m.num_routed_experts}"
        ]
    return []


def _dense_size(m: Any) -> list[str]:
    if m.num_dense_layers > 0 and m.dense_intermediate_size is None:
        return ["dense_intermediate_size: missing, required when num_dense_layers > 0"]
    return []


def _groups(m: Any) -> list[str]:
    if (m.n_group is None) != (m.topk_group is None):
        return ["n_group and topk_group: give both (node-limited routing) or neither"]
    problems = []
    if m.n_group is not None and m.topk_group is not None:
        if m.topk_group > m.n_group:
            problems.append(f"topk_group = {m.topk_group} exceeds n_group = {m.n_group}")
        if m.num_routed_experts % m.n_group:
            problems.append(
                f"n_group = {m.n_group} must divide num_routed_experts = {m.num_routed_experts}"
            )
    return problems


def _kv_heads(m: Any) -> list[str]:
    if m.num_kv_heads is not None and m.num_attention_heads % m.num_kv_heads:
        return [
            f"num_kv_heads = {m.num_kv_heads} must divide num_attention_heads = "
            f"{m.num_attention_heads}"
        ]
    return []


MODEL_RULES: tuple[Rule, ...] = (
    _attention_fields,
    _dense_layers,
    _top_k,
    _dense_size,
    _groups,
    _kv_heads,
)


def check_model(m: Any) -> list[str]:
    return run(MODEL_RULES, m)


# ---- hardware ----


def _domain(hw: Any) -> list[str]:
    if hw.scaleup_domain_gpus < hw.gpus_per_node:
        return [
            f"scaleup_domain_gpus = {hw.scaleup_domain_gpus} is smaller than gpus_per_node = "
            f"{hw.gpus_per_node}"
        ]
    return []


def _calibration(hw: Any) -> list[str]:
    return calibration_problems(hw.gemm_calibration)


def calibration_problems(pairs: Iterable[tuple[float, float]]) -> list[str]:
    """Rules of gemm_calibration points (already finite numbers)."""
    points = sorted(pairs)
    if not points:
        return []
    if not all(
        0 < t <= MAX_CALIBRATION_TOKENS and 0 < r <= MAX_CALIBRATION_TFLOPS for t, r in points
    ):
        return [
            f"gemm_calibration: tokens_per_expert must be in (0, {MAX_CALIBRATION_TOKENS:g}] and "
            f"tflops in (0, {MAX_CALIBRATION_TFLOPS:g}]"
        ]
    # The cap search needs GEMM time to grow with the tokens: tokens / rate non-decreasing.
    if any(t2 / r2 < t1 / r1 for (t1, r1), (t2, r2) in zip(points, points[1:], strict=False)):
        return [
            "gemm_calibration: time per expert (tokens_per_expert / tflops) must not fall as "
            "tokens grow; check the measurements"
        ]
    return []


HARDWARE_PROFILE_RULES: tuple[Rule, ...] = (_domain,)
"""Rules of one profile's values (the loader checks gemm_calibration once, as it is read)."""
HARDWARE_RULES: tuple[Rule, ...] = (*HARDWARE_PROFILE_RULES, _calibration)


def check_hardware(hw: Any) -> list[str]:
    return run(HARDWARE_RULES, hw)


# ---- search ----


def _architectures(s: Any) -> list[str]:
    archs = list(s.architectures)
    unknown = [a for a in archs if a not in ARCHITECTURES]
    if unknown or not archs:
        return [f"search.architectures = {archs}: choose from {', '.join(ARCHITECTURES)}"]
    dupes = sorted({a for a in archs if archs.count(a) > 1})
    if dupes:
        return [f"search.architectures = {archs}: {', '.join(dupes)} given more than once"]
    return []


def _overlap(s: Any) -> list[str]:
    """Each architecture's micro-batch range starts at its minimum (AFD: three-batch overlap)."""
    problems = []
    for spec in archspec.SPECS.values():
        lo = getattr(s, spec.micro_batches_field).lo
        if lo < spec.min_micro_batches:
            problems.append(
                f"search.{spec.micro_batches_field}: min {lo} is out of range: {spec.label} "
                f"needs >= {spec.min_micro_batches} micro-batches (docs/model.md §2)"
            )
    return problems


SEARCH_RULES: tuple[Rule, ...] = (_architectures, _overlap)


def check_search(s: Any) -> list[str]:
    return run(SEARCH_RULES, s)


def check_search_size(s: Any, model: Any, workload: Any, hardware: Any) -> list[str]:
    """Search spaces too large to allocate (see `solver.io.limits`)."""

    def rule(_: Any) -> list[str]:
        experts = _or_none(lambda: model.num_routed_experts)
        loads = _or_none(lambda: workload.expert_loads) is not None
        superpod = bool(
            _or_none(lambda: hardware.superpod and not hardware.superpod_unbounded) or False
        )
        return limits.search_problems(s, experts, loads, superpod)

    return run([rule], s)


def _or_none(get: Callable[[], Any]) -> Any:
    try:
        return get()
    except (Unjudged, AttributeError):
        return None


# ---- workload and search ----


def _objective_needs(pair: Any) -> list[str]:
    w, s = pair
    problems = []
    if s.objective == "total_tokens" and s.max_gpus is None:
        problems.append("search.max_gpus: required by objective = 'total_tokens' (the GPU cap)")
    if s.objective == "min_gpus" and w.demand_tokens_per_s is None:
        problems.append("workload.demand_tokens_per_s: required by objective = 'min_gpus'")
    return problems


def check_workload_search(w: Any, s: Any) -> list[str]:
    return run([_objective_needs], (w, s))


# ---- model and workload ----


def accepted_tokens_limit(model: Any, workload: Any) -> tuple[float, int]:
    """(most tokens a decode step can accept per sequence, draft tokens behind it).

    A step verifies 1 + d tokens of a sequence and accepts at most those. With
    `tokens_per_step` q > 1 the workload counts its drafts, d = q - 1. With q = 1 (the
    paper's bound: one computed token per step, the drafts' compute left out) the drafts
    come from the model's multi-token-prediction modules, one per MTP layer, and at least
    one (an external draft head), as the shipped scenarios accept 1.7 tokens with q = 1.
    """
    depth = max(1, int(getattr(model, "mtp_layers", None) or 0))
    drafts = max(int(math.ceil(workload.tokens_per_step)) - 1, depth)
    return max(float(workload.tokens_per_step), 1.0 + depth), drafts


def _acceptance(pair: Any) -> list[str]:
    m, w = pair
    top, drafts = accepted_tokens_limit(m, w)
    if w.mtp_acceptance > top * (1 + 1e-12):
        return [
            f"workload.mtp_acceptance = {w.mtp_acceptance:g} accepts more tokens per step than "
            f"a step verifies: at most {top:g} (1 + {drafts} draft token(s): tokens_per_step = "
            f"{w.tokens_per_step:g}, model.mtp_layers = {getattr(m, 'mtp_layers', None)}); "
            "count the draft tokens in workload.tokens_per_step"
        ]
    return []


def check_model_workload(m: Any, w: Any) -> list[str]:
    """Rules that read the model and the workload together."""
    return run([_acceptance], (m, w))


# ---- options given as text (the CLI, and the API's deployment specs) ----


def search_bound(name: str) -> float:
    """The upper bound (`le`) of a Search field."""
    meta = {f.name: f.metadata for f in dataclasses.fields(Search)}[name]
    return float(meta["le"])


def check_time_limit(value: Any, where: str = "time_limit_s") -> list[str]:
    """A time limit in seconds must be a finite number > 0 and within search.time_limit_s's
    bound (the same words for an option and an API argument)."""
    if value is None:
        return []
    top = search_bound("time_limit_s")
    _, problem = numbers.convert(value, where, bounds=numbers.Bounds(gt=0, le=top))
    if problem:
        return [f"{where} {numbers.show(value)}: must be a number of seconds in (0, {top:,g}]"]
    return []


DEPLOYMENT_BOUNDS = {
    "attention_nodes": "attention_nodes",
    "ffn_nodes": "ffn_nodes",
    "nodes": "nodes",
    "sequences_per_gpu": "sequences_per_gpu",
    "micro_batches": "afd_micro_batches",
    "redundant_experts": "redundant_experts",
    "tp_groups": "tp_groups",
    "tensor_parallel": "tensor_parallel",
}
"""Deployment spec keys and the search field whose upper bound they share."""
_ALIASES = {"architecture": "arch"}


def check_deployment_spec(spec: str | dict[str, Any], where: str = "--deployment") -> list[str]:
    """A `key=value,...` deployment (or its fields as a dict): no key twice, every count
    within its search bound. (Unknown keys and non-integers are the deployment parser's.)"""
    if isinstance(spec, dict):
        problems = []
        for key, value in spec.items():
            if not isinstance(key, str):
                problems.append(f"{where}: key {numbers.show(key)} must be a string")
                continue
            field = DEPLOYMENT_BOUNDS.get(key)
            number, problem = numbers.convert(value, f"{where}: {key}", integer=True)
            if field is not None and problem is None and number > (top := search_bound(field)):
                problems.append(
                    f"{where}: {key} = {numbers.show(value)} is out of range: must be "
                    f"<= {int(top):,}"
                )
        return problems
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    keys = [_ALIASES.get(k, k) for k in (p.partition("=")[0].strip() for p in parts)]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    problems = [f"{where}: {', '.join(dupes)} given more than once; keep one"] if dupes else []
    for part in parts:
        key, _, value = (x.strip() for x in part.partition("="))
        field = DEPLOYMENT_BOUNDS.get(key)
        if field is None:
            continue
        number, problem = numbers.parse(value, f"{where}: {key}", integer=True)
        if problem is None and number > (top := int(search_bound(field))):
            digits = value.lstrip("+").isdigit() and len(value) <= 40
            shown = f"{number:,}" if digits else numbers.show(value)
            problems.append(f"{where}: {key} = {shown} is out of range: must be <= {top:,}")
    return problems
