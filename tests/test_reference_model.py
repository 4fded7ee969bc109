"""The cost model checked against an oracle that shares no code with it (issue 8).

- golden: `reference_model.evaluate` reproduces every hand-derived value of
  tests/golden/costs.csv (so a wrong hand derivation or a wrong reference fails);
- the project's forward model (`formulations.breakdown`) reproduces the same table;
- property: reference and forward model agree on every breakdown term of thousands of seeded
  random deployments over all shipped models and hardware (AFD and EP at relative 1e-9;
  tensor parallelism, docs/model.md §20, on its own draws at relative 1e-12).

The reference side reads the TOML files itself (tomllib); only the forward side uses the
project's loader.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib
import importlib.util
import math
import random
import runpy
import tomllib
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import reference_model as ref

ROOT = Path(__file__).resolve().parents[1]
INSTANCES = ROOT / "instances"
GOLDEN = Path(__file__).with_name("golden") / "costs.csv"
BASE_SCENARIO = INSTANCES / "deepseek-v3-h800.toml"  # every field the tests use is overridden
REL = 1e-9
TP_REL = 1e-12  # TP terms (reference, golden, forward) agree to a few ulps of arithmetic order
ABS = 1e-12


# ---- the one place that calls the project's forward model ----------------------------------


def forward_breakdown(
    inst: Any, d: ref.RefDeployment, eps: float, unit_gpus: int | None = None
) -> dict[str, float]:
    """`formulations.breakdown.breakdown(inst, deployment, eps)` for a reference deployment
    (TP: `unit_gpus` is the group size t, carried by the deployment itself; `d.units` is r).

    Skips only while the module does not exist yet in this checkout; any other import error
    fails. (An editable install of another checkout can resolve the name to that checkout's
    file; that counts as missing here.)
    """
    import formulations

    spec = importlib.util.find_spec("formulations.breakdown")
    if spec is None:
        pytest.importorskip("formulations.breakdown", reason="forward breakdown not written yet")
    here = Path(formulations.__file__).resolve().parent
    if spec is not None and (spec.origin is None or Path(spec.origin).resolve().parent != here):
        pytest.skip(f"formulations.breakdown is not in {here} (found {spec.origin})")
    breakdown = importlib.import_module("formulations.breakdown")
    from formulations.types import Deployment

    afd = d.architecture == "afd"
    if d.architecture == "tp":
        deployment = Deployment(
            architecture="tp",
            sequences_per_gpu=d.sequences_per_gpu,
            micro_batches=d.micro_batches,
            redundant=0,
            nodes=(("tp", d.units),),
            unit_gpus=unit_gpus,
        )
    else:
        deployment = Deployment(
            architecture=d.architecture,
            sequences_per_gpu=d.sequences_per_gpu,
            micro_batches=d.micro_batches,
            redundant=d.redundant,
            nodes=(("attention", d.attention_units), ("ffn", d.ffn_units))
            if afd
            else (("ep", d.units),),
        )
    return {k: float(v) for k, v in breakdown.breakdown(inst, deployment, eps).items()}


def forward_instance(case: Case) -> Any:
    """The project's Instance for a case: the shipped files through the project's loader
    (a mixed case names its pools with attention_hardware/ffn_hardware and their profiles)."""
    from solver.io.loader import apply_overrides, instance_from_table, load_instance

    overrides: dict[str, Any] = {"model": case.model, "search.unit_gpus": case.unit_gpus}
    overrides.update({f"workload.{k}": v for k, v in case.workload.items()})
    if case.calibration:
        overrides["hardware.gemm_calibration"] = [list(p) for p in case.calibration]
    overrides.update({f"hardware.{k}": v for k, v in case.latency_us})
    if not case.ffn_hardware:
        overrides.update(hardware=case.hardware, hardware_profile=case.profile)
        return load_instance(BASE_SCENARIO, overrides)
    with BASE_SCENARIO.open("rb") as fh:
        raw = tomllib.load(fh)
    for key in ("hardware", "hardware_profile"):
        raw.pop(key)
    overrides.update(
        attention_hardware=case.hardware,
        attention_hardware_profile=case.profile,
        ffn_hardware=case.ffn_hardware,
        ffn_hardware_profile=case.ffn_profile,
    )
    if case.link_gbps is not None:
        overrides["link.gbps"] = case.link_gbps
    raw = apply_overrides(raw, overrides, str(BASE_SCENARIO))
    origin = str(BASE_SCENARIO)
    return instance_from_table(
        raw, BASE_SCENARIO.parent, origin, default_name=BASE_SCENARIO.stem, path=origin
    )


@cache
def _loaded(model: str, hardware: str, profile: str, unit_gpus: int) -> Any:
    workload = {"tpot_ms": 50.0, "context_tokens": 4096.0}
    base = Case(model, hardware, profile, workload, unit_gpus, 1.0, ref.RefDeployment("ep", 1, 1))
    return forward_instance(base)


def forward_instance_fast(case: Case) -> Any:
    """As `forward_instance`, loading each (model, hardware, profile, g) once and putting the
    case's workload (and calibration, FFN pool, link) in with `dataclasses.replace` (the loader
    costs ~2 ms)."""
    from formulations.types import Workload

    inst = _loaded(case.model, case.hardware, case.profile, case.unit_gpus)
    hw = inst.hardware
    if case.calibration:
        hw = dataclasses.replace(hw, gemm_calibration=case.calibration)
    hw = dataclasses.replace(hw, **dict(case.latency_us))
    ffn = None
    if case.ffn_hardware:
        ffn = _loaded(case.model, case.ffn_hardware, case.ffn_profile, case.unit_gpus).hardware
        if case.calibration:
            ffn = dataclasses.replace(ffn, gemm_calibration=case.calibration)
        ffn = dataclasses.replace(ffn, **dict(case.latency_us))
        ffn = None if ffn == hw else ffn
    return dataclasses.replace(
        inst,
        workload=Workload(**case.workload),
        hardware=hw,
        ffn_hardware=ffn,
        link_gbps=case.link_gbps,
    )


# ---- cases and the reference side ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    model: str
    hardware: str
    profile: str
    workload: dict[str, Any]
    unit_gpus: int
    """g, or the TP group size t for a `tp` deployment (whose `units` are the groups r)."""
    eps: float
    deployment: ref.RefDeployment
    calibration: tuple[tuple[float, float], ...] = ()
    ffn_hardware: str = ""
    """AFD's FFN pool hardware when it differs from `hardware` (docs/model.md §17)."""
    ffn_profile: str = ""
    link_gbps: float | None = None
    latency_us: tuple[tuple[str, float], ...] = ()
    """`<stage>_latency_us` overrides of every pool's hardware (docs/model.md §3.1)."""


@cache
def _toml(kind: str, name: str) -> dict[str, Any]:
    with (INSTANCES / kind / f"{name}.toml").open("rb") as fh:
        return tomllib.load(fh)


def reference(case: Case) -> dict[str, float]:
    hw = ref.hardware_from_file(_toml("hardware", case.hardware), case.profile)
    ffn = None
    if case.ffn_hardware:
        ffn = ref.hardware_from_file(_toml("hardware", case.ffn_hardware), case.ffn_profile)
    if case.calibration:
        hw = dataclasses.replace(hw, gemm_calibration=case.calibration)
        ffn = None if ffn is None else dataclasses.replace(ffn, gemm_calibration=case.calibration)
    if case.latency_us:
        hw = dataclasses.replace(hw, **dict(case.latency_us))
        ffn = None if ffn is None else dataclasses.replace(ffn, **dict(case.latency_us))
    return ref.evaluate(
        ref.RefModel.from_dict(_toml("models", case.model)),
        hw,
        ref.RefWorkload.from_dict(case.workload),
        case.unit_gpus,
        case.eps,
        case.deployment,
        ffn_hw=ffn,
        link_gbps=case.link_gbps,
    )


def close(a: float, b: float, rel: float = REL) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b)) or max(abs(a), abs(b)) <= ABS


def keys_of(arch: str) -> tuple[str, ...]:
    return {"afd": ref.AFD_KEYS, "ep": ref.EP_KEYS, "tp": ref.TP_KEYS}[arch]


def rel_of(arch: str) -> float:
    return TP_REL if arch == "tp" else REL


# ---- golden table --------------------------------------------------------------------------


def _pairs(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in text.split(";") if item)


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _golden() -> dict[str, tuple[Case, dict[str, float]]]:
    rows: dict[str, list[dict[str, str]]] = defaultdict(list)
    with GOLDEN.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["kind"] == "term":
                rows[row["case"]].append(row)
    cases = {}
    for name, group in rows.items():
        first = group[0]
        dep = {k: _number(v) for k, v in _pairs(first["deployment"]).items()}
        arch = first["architecture"]
        calibration: tuple[tuple[float, float], ...] = ()
        over = _pairs(first["hardware_overrides"])
        latency = tuple((k, float(v)) for k, v in over.items() if k.endswith("_latency_us"))
        if "gemm_calibration" in over:
            calibration = tuple(
                (float(p.split(":")[0]), float(p.split(":")[1]))
                for p in over["gemm_calibration"].split(",")
            )
        tp = arch == "tp"  # a TP row names its group size t and its groups r
        case = Case(
            model=first["model"],
            hardware=first["hardware"],
            profile=first["profile"],
            workload={k: _number(v) for k, v in _pairs(first["workload"]).items()},
            unit_gpus=dep["t"] if tp else dep["g"],
            eps=float(dep["eps"]),
            deployment=ref.RefDeployment(
                architecture=arch,
                sequences_per_gpu=dep["n"],
                micro_batches=dep["N_BO"],
                redundant=dep["R"],
                attention_units=dep.get("N_A", 0),
                ffn_units=dep.get("N_F", 0),
                units=dep["r"] if tp else dep.get("N", 0),
            ),
            calibration=calibration,
            ffn_hardware=first["ffn_hardware"],
            ffn_profile=first["ffn_profile"],
            link_gbps=float(first["link_gbps"]) if first["link_gbps"] else None,
            latency_us=latency,
        )
        cases[name] = (case, {r["term"]: float(r["value"]) for r in group})
    return cases


GOLDEN_CASES = _golden()


def test_golden_csv_is_the_worksheet_output():
    """costs.csv is exactly what the hand worksheet writes (nobody edited a value by hand)."""
    sheet = runpy.run_path(str(GOLDEN.with_name("costs_worksheet.py")), run_name="worksheet")
    with GOLDEN.open(newline="") as fh:
        assert list(csv.DictReader(fh)) == sheet["ROWS"]


def test_golden_table_covers_models_hardware_and_architectures():
    cases = [c for c, _ in GOLDEN_CASES.values()]
    assert {"deepseek-v3", "step3", "qwen3-235b-a22b"} <= {c.model for c in cases}
    assert len({(c.hardware, c.profile) for c in cases}) >= 2
    for model in ("deepseek-v3", "step3", "qwen3-235b-a22b"):
        for hw in ("h800", "h200"):
            archs = {
                c.deployment.architecture for c in cases if (c.model, c.hardware) == (model, hw)
            }
            assert {"afd", "ep"} <= archs, (model, hw)
    # TP (docs/model.md §20): MLA, GQA with replicated KV heads, MFA; one group and several;
    # one micro-batch (all-reduces exposed) and several (hidden); t = 1 (no all-reduce at all).
    tp = [c for c in cases if c.deployment.architecture == "tp"]
    models = {c.model: ref.RefModel.from_dict(_toml("models", c.model)) for c in tp}
    assert {m.attention for m in models.values()} >= {"mla", "gqa", "mfa"}
    assert any(
        models[c.model].attention == "gqa" and c.unit_gpus > (models[c.model].num_kv_heads or 0)
        for c in tp
    )
    assert {c.unit_gpus == 1 for c in tp} == {True, False}
    assert {c.deployment.units > 1 for c in tp} == {True, False}
    assert {c.deployment.micro_batches == 1 for c in tp} == {True, False}


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_reference_reproduces_golden(name):
    case, golden = GOLDEN_CASES[name]
    arch = case.deployment.architecture
    keys = keys_of(arch)
    assert set(golden) == set(keys), sorted(set(golden) ^ set(keys))
    got = reference(case)
    bad = [(k, golden[k], got[k]) for k in keys if not close(golden[k], got[k], rel_of(arch))]
    assert not bad, f"{name}: (term, golden, reference) {bad}"


def test_golden_hfu_meets_the_papers_scaleup_ceiling():
    """docs/model.md §13.2: scale-up-bound DeepSeek-V3 on H800 (paper) reaches
    2 B_up M / FLOPS = 33.1 %."""
    _, golden = GOLDEN_CASES["ds-h800-paper-afd"]
    assert golden["stage_s"] == golden["ffn_scaleup_s"]
    assert math.isclose(golden["ffn_hfu"], 2 * 160e9 * 2048 / 1979e12, rel_tol=1e-12)


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_forward_model_reproduces_golden(name):
    case, golden = GOLDEN_CASES[name]
    got = forward_breakdown(forward_instance(case), case.deployment, case.eps, case.unit_gpus)
    assert set(got) == set(golden), sorted(set(got) ^ set(golden))
    rel = rel_of(case.deployment.architecture)
    bad = [(k, golden[k], got[k]) for k in golden if not close(golden[k], got[k], rel)]
    assert not bad, f"{name}: (term, golden, forward) {bad}"


# ---- property: reference == forward model on random deployments ----------------------------

MODELS = sorted(p.stem for p in (INSTANCES / "models").glob("*.toml"))
HARDWARE = sorted(p.stem for p in (INSTANCES / "hardware").glob("*.toml"))
PROFILES = ("sustained", "paper")
ROUNDS = 4  # every (model, hardware, profile, architecture, shared side) drawn ROUNDS times


def _calibration(rng: random.Random) -> tuple[tuple[float, float], ...]:
    """Three measured points whose time per expert (tokens / rate) never falls."""
    x0 = rng.uniform(1, 32)
    r0 = rng.uniform(100, 300)
    r1 = rng.uniform(r0, 6 * r0)
    r2 = rng.uniform(r1, 6 * r1)
    return ((x0, r0), (x0 * 8, r1), (x0 * 64, r2))


def _pool_units(rng: random.Random, g: int, domain: int, hi: int) -> int:
    """Units of a pool: often spanning exactly 2, 4 or 8 scale-up domains, where node-limited
    routing caps the fan-out (DeepSeek-V3: 8 groups, 4 per token, bind at 8 domains)."""
    if rng.random() < 0.3:
        domains = rng.choice((2, 4, 8))
        return rng.randint(-(-((domains - 1) * domain + 1) // g), domains * domain // g)
    return rng.randint(1, hi)


def _workload(rng: random.Random, shared: str, mdl: dict[str, Any]) -> dict[str, Any]:
    workload = {
        "tpot_ms": rng.choice((20.0, 50.0, 100.0, rng.uniform(15, 300))),
        "context_tokens": rng.choice((100.0, 4096.0, 32768.0, float(rng.randint(1, 200_000)))),
        "mtp_acceptance": rng.choice((1.0, 1.7, rng.uniform(1, 3))),
        "tokens_per_step": rng.choice((1.0, 1.0, 2.0, rng.uniform(1, 4))),
        "step_gap_ms": rng.choice((0.0, 10.0, 15.0)),
        "dp_imbalance": rng.choice((1.0, rng.uniform(0.3, 1.0))),
        "routing": rng.choice(("worst-case", "node-limited")),
        "shared_experts": shared,
    }
    # A step accepts at most what it verifies: q tokens, or 1 + the model's MTP depth (at
    # least one draft) with q = 1 (solver.io.checks.accepted_tokens_limit).
    depth = max(1, int(mdl.get("mtp_layers") or 0))
    top = max(workload["tokens_per_step"], 1.0 + depth)
    workload["mtp_acceptance"] = min(workload["mtp_acceptance"], top)
    return workload


def random_case(
    rng: random.Random, model: str, hardware: str, profile: str, arch: str, shared: str
) -> Case:
    hw = _toml("hardware", hardware)
    mdl = _toml("models", model)
    g = rng.choice((1, 8))
    workload = _workload(rng, shared, mdl)
    eps = rng.choice((1.0, 2.0 - rng.random()))  # 1, or in (1, 2]
    n = rng.randint(1, rng.choice((8, 64, 400)))
    redundant = rng.choice((0, 0, rng.randint(1, mdl["num_routed_experts"])))
    domain_units = hw["scaleup_domain_gpus"] // g
    inside = hw.get("superpod", False) and rng.random() < 0.5 and domain_units >= 2
    if arch == "afd":
        if inside:
            n_a = rng.randint(1, domain_units - 1)
            n_f = rng.randint(1, domain_units - n_a)
        else:
            hi = 24 if g == 8 else 160
            n_a = rng.randint(1, hi)
            n_f = _pool_units(rng, g, hw["scaleup_domain_gpus"], hi)
        dep = ref.RefDeployment(
            "afd", n, rng.choice((3, 4)), redundant, attention_units=n_a, ffn_units=n_f
        )
    else:
        if inside:
            units = rng.randint(1, domain_units)
        else:
            units = _pool_units(rng, g, hw["scaleup_domain_gpus"], 40 if g == 8 else 300)
        dep = ref.RefDeployment("ep", n, rng.choice((1, 2)), redundant, units=units)
    calibration = _calibration(rng) if rng.random() < 0.2 else ()
    latency = _latency(rng) if rng.random() < 0.3 else ()
    return Case(model, hardware, profile, workload, g, eps, dep, calibration, latency_us=latency)


LATENCY_KEYS = (
    "attention_latency_us",
    "grouped_gemm_latency_us",
    "dispatch_scale_up_latency_us",
    "combine_scale_up_latency_us",
    "dispatch_scale_out_latency_us",
    "combine_scale_out_latency_us",
)


TP_LATENCY_KEYS = LATENCY_KEYS + ("allreduce_scale_up_latency_us",)


def _latency(
    rng: random.Random, keys: tuple[str, ...] = LATENCY_KEYS
) -> tuple[tuple[str, float], ...]:
    """Fixed times of every stage (us): zero, small, or as large as a whole stage."""
    return tuple((k, rng.choice((0.0, rng.uniform(0, 30), rng.uniform(0, 500)))) for k in keys)


def random_cases(seed: int = 20261130) -> list[Case]:
    rng = random.Random(seed)
    return [
        random_case(rng, model, hardware, profile, arch, shared)
        for _ in range(ROUNDS)
        for model in MODELS
        for hardware in HARDWARE
        for profile in PROFILES
        for arch in ("afd", "ep")
        for shared in ("attention", "ffn")
    ]


MIXED_ROUNDS = 24  # mixed AFD pairings drawn per model


def random_mixed_cases(seed: int = 20261201) -> list[Case]:
    """AFD deployments on two different hardware (any profiles), a given link in a third."""
    rng = random.Random(seed)
    cases = []
    for model in MODELS:
        for _ in range(MIXED_ROUNDS):
            attention, ffn = rng.sample(HARDWARE, 2)
            shared = rng.choice(("attention", "ffn"))
            base = random_case(rng, model, attention, rng.choice(PROFILES), "afd", shared)
            link = rng.choice((None, None, rng.uniform(5, 900)))
            cases.append(
                dataclasses.replace(
                    base, ffn_hardware=ffn, ffn_profile=rng.choice(PROFILES), link_gbps=link
                )
            )
    return cases


def test_random_cases_cover_the_space():
    cases = random_cases()
    assert len(cases) >= 2000
    assert {c.eps == 1.0 for c in cases} == {True, False}
    assert {c.workload["dp_imbalance"] == 1.0 for c in cases} == {True, False}
    assert {c.workload["routing"] for c in cases} == {"worst-case", "node-limited"}
    assert {c.unit_gpus for c in cases} == {1, 8}
    assert {c.deployment.sequences_per_gpu % c.deployment.micro_batches == 0 for c in cases} == {
        True,
        False,
    }
    assert {bool(c.calibration) for c in cases} == {True, False}
    assert {bool(c.latency_us) for c in cases} == {True, False}
    # Superpods with and without the deployment inside one (bounded) scale-up domain.
    superpod = [c for c in cases if c.profile == "sustained" and "nvl72" in c.hardware]
    sizes = {
        (c.deployment.attention_units + c.deployment.ffn_units + c.deployment.units) * c.unit_gpus
        <= 72
        for c in superpod
    }
    assert sizes == {True, False}
    # Node-limited routing actually caps the fan-out in some deployments.
    assert sum(_routing_binds(c) for c in cases) >= 10


def _routing_binds(c: Case) -> bool:
    m = ref.RefModel.from_dict(_toml("models", c.model))
    w = ref.RefWorkload.from_dict(c.workload)
    hw = ref.hardware_from_file(_toml("hardware", c.hardware), c.profile)
    pool = (c.deployment.ffn_units or c.deployment.units) * c.unit_gpus
    domains = -(-pool // hw.scaleup_domain_gpus)
    return not hw.superpod_unbounded and ref.fanout(m, w, domains) < min(
        m.experts_per_token, domains
    )


def test_forward_model_matches_reference_on_random_deployments():
    cases = random_cases() + random_mixed_cases()
    failures = []
    worst = 0.0
    for case in cases:
        want = reference(case)
        got = forward_breakdown(forward_instance_fast(case), case.deployment, case.eps)
        if set(got) != set(want):
            failures.append(f"{case}: keys differ {sorted(set(got) ^ set(want))}")
            continue
        for key, value in want.items():
            if not close(value, got[key]):
                failures.append(f"{key}: reference {value!r} forward {got[key]!r} for {case}")
            elif max(abs(value), abs(got[key])) > ABS:
                worst = max(worst, abs(value - got[key]) / max(abs(value), abs(got[key])))
    head = "\n".join(failures[:20])
    assert not failures, f"{len(failures)} mismatches over {len(cases)} deployments:\n{head}"
    print(f"{len(cases)} random deployments, worst relative difference {worst:.2e}")


# ---- tensor parallelism (docs/model.md §20) -------------------------------------------------

TP_ROUNDS = 4  # every (model, hardware, profile) drawn TP_ROUNDS times


def tp_sizes(model: str, hardware: str) -> list[int]:
    """The allowed group sizes t of docs/model.md §20.1: t divides the attention heads and the
    expert intermediate size; with GQA/MFA t divides the KV heads or is a multiple of them;
    t <= the hardware file's scale-up domain."""
    mdl, hw = _toml("models", model), _toml("hardware", hardware)
    kv = mdl.get("num_kv_heads") if mdl["attention"] in ("gqa", "mfa") else None
    return [
        t
        for t in range(1, hw["scaleup_domain_gpus"] + 1)
        if mdl["num_attention_heads"] % t == 0
        and mdl["moe_intermediate_size"] % t == 0
        and (kv is None or kv % t == 0 or t % kv == 0)
    ]


def random_tp_case(rng: random.Random, model: str, hardware: str, profile: str) -> Case:
    """A TP deployment: t from the allowed sizes, r groups, N_BO in 1..3. `eps` and the
    workload's shared-expert side are drawn too: TP must ignore both (§20.1, C10)."""
    t = rng.choice(tp_sizes(model, hardware))
    workload = _workload(rng, rng.choice(("attention", "ffn")), _toml("models", model))
    eps = rng.choice((1.0, 2.0 - rng.random()))
    n = rng.randint(1, rng.choice((8, 64, 400)))
    groups = rng.choice((1, rng.randint(1, 64)))
    dep = ref.RefDeployment("tp", n, rng.randint(1, 3), units=groups)
    calibration = _calibration(rng) if rng.random() < 0.2 else ()
    latency = _latency(rng, TP_LATENCY_KEYS) if rng.random() < 0.5 else ()
    return Case(model, hardware, profile, workload, t, eps, dep, calibration, latency_us=latency)


def random_tp_cases(seed: int = 20270120) -> list[Case]:
    rng = random.Random(seed)
    return [
        random_tp_case(rng, model, hardware, profile)
        for _ in range(TP_ROUNDS)
        for model in MODELS
        for hardware in HARDWARE
        for profile in PROFILES
    ]


def test_random_tp_cases_cover_the_space():
    cases = random_tp_cases()
    assert len(cases) >= 500
    assert {c.unit_gpus == 1 for c in cases} == {True, False}
    assert any(c.unit_gpus > 8 for c in cases)  # TP across a rack-scale domain
    assert {c.deployment.micro_batches for c in cases} == {1, 2, 3}
    assert {c.deployment.units > 1 for c in cases} == {True, False}
    assert {c.deployment.sequences_per_gpu % c.deployment.micro_batches == 0 for c in cases} == {
        True,
        False,
    }
    assert {c.workload["dp_imbalance"] == 1.0 for c in cases} == {True, False}
    assert {c.eps == 1.0 for c in cases} == {True, False}
    assert {bool(c.calibration) for c in cases} == {True, False}
    assert any(dict(c.latency_us).get("allreduce_scale_up_latency_us", 0) > 0 for c in cases)
    models = {c.model: _toml("models", c.model) for c in cases}
    # KV heads both split and replicated (t > h_kv), on GQA and on MFA; MLA; sliding windows.
    replicated = {
        models[c.model]["attention"]
        for c in cases
        if models[c.model]["attention"] in ("gqa", "mfa")
        and c.unit_gpus > models[c.model]["num_kv_heads"]
    }
    assert replicated == {"gqa", "mfa"}
    assert any(
        models[c.model]["attention"] == "gqa" and 1 < c.unit_gpus <= models[c.model]["num_kv_heads"]
        for c in cases
    )
    assert any(models[c.model]["attention"] == "mla" and c.unit_gpus > 1 for c in cases)
    assert any("sliding_window" in models[c.model] and c.unit_gpus > 1 for c in cases)


def test_reference_tp_on_one_gpu_is_the_unsplit_model():
    """t = 1 is §4.5 and §5.2 unchanged (§20.2): the reference's TP split at t = 1 gives every
    model's attention geometry, and a TP1 deployment's attention, grouped GEMM, weights and KV
    cache equal those of a one-GPU EP deployment of the same batch (sigma_DP = eps = 1)."""
    for model in MODELS:
        m = ref.RefModel.from_dict(_toml("models", model))
        assert ref.attention_layer_tp(m, 1) == pytest.approx(ref.attention_layer(m), rel=1e-15)
    same = (
        "attention_flop_s",
        "attention_byte_s",
        "attention_s",
        "gemm_compute_s",
        "gemm_weight_s",
        "gemm_s",
        "attention_weight_bytes",
        "expert_weight_bytes",
        "kv_bytes",
        "usable_bytes",
        "experts_per_gpu",
    )
    checked = 0
    for case in random_tp_cases():
        if case.unit_gpus != 1:
            continue
        workload = {**case.workload, "dp_imbalance": 1.0, "shared_experts": "attention"}
        tp = reference(dataclasses.replace(case, workload=workload))
        dep = case.deployment
        ep_dep = ref.RefDeployment("ep", dep.sequences_per_gpu, dep.micro_batches, units=1)
        ep = reference(dataclasses.replace(case, workload=workload, eps=1.0, deployment=ep_dep))
        bad = [(k, tp[k], ep[k]) for k in same if not close(tp[k], ep[k], TP_REL)]
        assert not bad, (case, bad)
        assert tp["allreduce_s"] == tp["allreduce_latency_s"] == 0.0
        checked += 1
    assert checked >= 50


def test_reference_reads_the_allreduce_latency_and_only_tp_uses_it():
    """The [latency] key allreduce_scale_up (us) reaches the reference's hardware (0 when
    absent) and changes no AFD or EP term."""
    table = _toml("hardware", "h800")
    without = {
        **table,
        "latency": {k: v for k, v in table["latency"].items() if k != "allreduce_scale_up"},
    }
    assert ref.hardware_from_file(without, "sustained").allreduce_scale_up_latency_us == 0.0
    with_key = {**table, "latency": {**table["latency"], "allreduce_scale_up": 7}}
    assert ref.hardware_from_file(with_key, "sustained").allreduce_scale_up_latency_us == 7.0
    assert ref.hardware_from_file(with_key, "paper").allreduce_scale_up_latency_us == 0.0
    for case in random_cases()[::97]:
        extra = dataclasses.replace(
            case, latency_us=case.latency_us + (("allreduce_scale_up_latency_us", 250.0),)
        )
        assert reference(extra) == reference(case)


def test_forward_model_matches_reference_on_random_tp_deployments():
    cases = random_tp_cases()
    failures = []
    worst = 0.0
    for case in cases:
        want = reference(case)
        got = forward_breakdown(
            forward_instance_fast(case), case.deployment, case.eps, case.unit_gpus
        )
        if set(got) != set(want):
            failures.append(f"{case}: keys differ {sorted(set(got) ^ set(want))}")
            continue
        for key, value in want.items():
            if not close(value, got[key], TP_REL):
                failures.append(f"{key}: reference {value!r} forward {got[key]!r} for {case}")
            elif max(abs(value), abs(got[key])) > ABS:
                worst = max(worst, abs(value - got[key]) / max(abs(value), abs(got[key])))
    head = "\n".join(failures[:20])
    assert not failures, f"{len(failures)} mismatches over {len(cases)} TP deployments:\n{head}"
    print(f"{len(cases)} random TP deployments, worst relative difference {worst:.2e}")


def test_fast_tp_instances_equal_loaded_instances():
    cases = random_tp_cases()
    for case in cases[:: len(cases) // 30]:
        assert forward_instance_fast(case) == forward_instance(case), case


def test_fast_instances_equal_loaded_instances():
    """The property test's shortcut (load once, replace the workload) builds the same Instance."""
    mixed = random_mixed_cases()
    for case in random_cases()[:: len(random_cases()) // 40] + mixed[:: len(mixed) // 20]:
        assert forward_instance_fast(case) == forward_instance(case), case
