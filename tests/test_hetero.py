"""Heterogeneous AFD pools (docs/model.md §17): programs against enumeration, the pairing
branch, the long-context case where a mixed pairing wins, loader errors and export.

The cost terms of a mixed deployment are checked term by term against the reference evaluator
and hand-derived numbers in tests/test_reference_model.py (golden cases
qw-h20-h800-sustained-afd and ds-h200-gb200-link-afd, and random mixed deployments).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import h800_paper, make_instance, standard_workload

from formulations import pairings
from formulations.costs import CostModel
from formulations.metrics import metrics
from formulations.types import Hardware, Instance
from solver import report
from solver.api import evaluate, solve
from solver.backends import Status
from solver.errors import InputError
from solver.io.loader import load_instance
from solver.optimize import Outcome, optimize

REL = 1e-7
ROOT = Path(__file__).resolve().parents[1]


def h20_like() -> Hardware:
    """H20's datasheet figures (memory-rich, FLOP-poor), built in code."""
    return Hardware(
        name="h20",
        fp8_tflops=296,
        bf16_tflops=148,
        hbm_gb=96,
        hbm_tbps=4.0,
        scaleup_gbps=450,
        scaleout_gbps=50,
        gpus_per_node=8,
        scaleup_domain_gpus=8,
        profile="datasheet",
    )


def rack_like() -> Hardware:
    """A bounded 72-GPU superpod (GB200 NVL72 datasheet figures)."""
    return Hardware(
        name="rack",
        fp8_tflops=5000,
        bf16_tflops=2500,
        hbm_gb=186,
        hbm_tbps=8.0,
        scaleup_gbps=900,
        scaleout_gbps=50,
        gpus_per_node=4,
        scaleup_domain_gpus=72,
        superpod=True,
        profile="datasheet",
    )


def small(**search: object) -> Instance:
    ranges: dict[str, object] = dict(
        attention_nodes=(1, 5), ffn_nodes=(1, 3), nodes=(1, 6), sequences_per_gpu=(1, 160)
    )
    ranges.update(search)
    w = dataclasses.replace(standard_workload(), context_tokens=16384)
    return make_instance(workload=w, **ranges)


def cases() -> dict[str, Instance]:
    h800, h20, rack = h800_paper(), h20_like(), rack_like()
    base = small()
    both = ((h20, h20), (h20, h800), (h800, h20), (h800, h800))
    return {
        "fixed-h20-h800": base.replace(hardware=h20, ffn_hardware=h800),
        "lists-2x2": base.replace(hardware=h20, ffn_hardware=h800, hardware_choices=both),
        "link-100": base.replace(hardware=h800, ffn_hardware=h20, link_gbps=100.0),
        "rack-ffn-g1": small(unit_gpus=1, attention_nodes=(1, 12), ffn_nodes=(70, 74)).replace(
            hardware=h20, ffn_hardware=rack, hardware_choices=((h20, rack), (rack, rack))
        ),
    }


def residual_check(inst: Instance, out: Outcome) -> None:
    """The deployment, evaluated on its own pairing by the cost model, meets every family and
    has the reported objective (tokens/s per GPU at its own pace)."""
    assert out.deployment is not None and out.pairing is not None
    branch = pairings.on(inst, *out.pairing)
    m = metrics(CostModel.for_deployment(branch, out.deployment), out.deployment, out.eps)
    assert not m.violated
    assert m.tokens_per_s_per_gpu == pytest.approx(out.objective, rel=REL)


@pytest.mark.parametrize("name", sorted(cases()))
@pytest.mark.parametrize("arch", ["afd", "ep"])
def test_mixed_programs_agree_with_enumeration(name, arch):
    inst = cases()[name]
    oracle = optimize(inst, arch, "enumerate")
    assert oracle.status == Status.OPTIMAL and oracle.objective is not None
    for backend in ("highs", "cbc", "cpsat"):
        out = optimize(inst, arch, backend)
        assert out.status == Status.OPTIMAL, (backend, out.reason)
        assert out.objective == pytest.approx(oracle.objective, rel=REL), backend
        residual_check(inst, out)
        # The winning pairing's value is the oracle's on that pairing alone (ties allowed).
        alone = optimize(pairings.on(inst, *out.pairing), arch, "enumerate")
        assert alone.objective == pytest.approx(out.objective, rel=REL)


def test_branches_cover_the_pairings_and_the_best_wins():
    inst = cases()["lists-2x2"]
    afd = optimize(inst, "afd")
    assert [b[0] for b in afd.branches] == ["h20", "h20+h800", "h800+h20", "h800"]
    values = [b[2] for b in afd.branches if b[2] is not None]
    assert afd.objective == pytest.approx(max(values))
    ep = optimize(inst, "ep")
    assert [b[0] for b in ep.branches] == ["h20", "h800"]
    # A fixed mixed pairing: AFD on it, EP on either of its two hardware.
    fixed = cases()["fixed-h20-h800"]
    assert optimize(fixed, "afd").branches == ()
    assert {b[0] for b in optimize(fixed, "ep").branches} == {"h20", "h800"}


def test_mixed_pools_never_share_a_superpod_domain():
    rack = rack_like()
    same = small(unit_gpus=8).replace(hardware=rack)
    mixed = same.replace(hardware=h20_like(), ffn_hardware=rack)
    assert CostModel.of(same, "afd").superpod and not CostModel.of(mixed, "afd").superpod
    cm = CostModel.of(mixed, "afd")
    assert cm.domain_gpus == 72 and cm.link_bytes_per_s == 50e9
    # Equal hardware loaded twice (equal values, different objects) is not mixed.
    twin = same.replace(ffn_hardware=dataclasses.replace(rack))
    assert CostModel.of(twin, "afd").superpod


# ---- the long-context case where the mixed pairing wins ---------------------------------

LONG = """
model = "MODEL"
[workload]
tpot_ms = 50
context_tokens = 32768
[search]
architectures = ["afd", "ep"]
attention_hardware = ["h20", "h800"]
ffn_hardware = ["h20", "h800"]
attention_nodes = { min = 1, max = 32 }
ffn_nodes = { min = 1, max = 16 }
nodes = { min = 1, max = 16 }
"""


def roofline_catalogue(tmp_path: Path) -> None:
    """h20 and h800 next to the test's files with their fixed times set to 0: the examples of
    docs/model.md §17 are pure rooflines. (With the catalogue's fixed times the 118 us of the
    attention link's dispatch + combine set the pace of these small micro-batches, and the
    FFN side's hardware no longer matters.)"""
    folder = tmp_path / "hardware"
    folder.mkdir(exist_ok=True)
    for name in ("h20", "h800"):
        text = (ROOT / "instances" / "hardware" / f"{name}.toml").read_text()
        head, _, rest = text.partition("\n[latency]")
        tail = rest[rest.index("\n[") :] if "\n[" in rest else "\n"
        (folder / f"{name}.toml").write_text(head + "\n[latency]\n" + tail)


def long_context(tmp_path: Path, model: str) -> Path:
    roofline_catalogue(tmp_path)
    path = tmp_path / f"{model}-long.toml"
    path.write_text(LONG.replace("MODEL", model))
    return path


def test_long_context_gqa_picks_h20_attention_and_h800_experts(tmp_path):
    """Qwen3-235B-A22B (GQA) at 32k context, sustained profiles: attention is HBM-bound, so
    H20 (4.0 TB/s, 96 GB) serves it as well as H800 does, and H800's FP8 FLOPs (1979 vs 296)
    serve the experts. Measured: h20 + h800 849 tokens/s per GPU, h20 820, h800 664."""
    inst = load_instance(long_context(tmp_path, "qwen3-235b-a22b"))
    out = optimize(inst, "afd")
    assert out.status == Status.OPTIMAL
    assert pairings.names(out.pairing) == ("h20", "h800")
    value = dict((label, v) for label, _, v in out.branches)
    assert value["h20+h800"] > 1.02 * value["h20"] and value["h20+h800"] > 1.2 * value["h800"]
    row = report.records(solve(inst, architectures=["afd"]))[0]
    assert (row["attention_hardware"], row["ffn_hardware"]) == ("h20", "h800")
    text = report.render(solve(inst, architectures=["afd"]), "table")
    assert "h20+h800" in text.splitlines()[1]


def test_long_context_mla_keeps_attention_on_h800(tmp_path):
    """DeepSeek-V3's absorbed MLA does ~480 FLOP per KV byte: compute-bound on H20's 148 BF16
    TFLOP/s, so its attention belongs on H800 (1,039 against 206 tokens/s per GPU at 32k)."""
    out = optimize(load_instance(long_context(tmp_path, "deepseek-v3")), "afd")
    value = dict((label, v) for label, _, v in out.branches)
    assert out.pairing is not None and out.pairing[0].name == "h800"
    assert value["h800"] > 4 * value["h20+h800"]


def test_evaluate_names_its_pairing(tmp_path):
    path = long_context(tmp_path, "qwen3-235b-a22b")
    spec = "arch=afd,attention_nodes=32,ffn_nodes=2,sequences_per_gpu=24"
    row = report.records(evaluate(path, f"{spec},attention_hardware=h20,ffn_hardware=h800"))[0]
    assert row["status"] == "feasible" and row["ffn_hardware"] == "h800"
    assert row["tokens_per_s_per_gpu"] == pytest.approx(849, rel=2e-3)
    with pytest.raises(InputError, match="name it with attention_hardware=NAME"):
        evaluate(path, spec)
    with pytest.raises(InputError, match="no AFD hardware pairing matches"):
        evaluate(path, f"{spec},attention_hardware=b200,ffn_hardware=h800")
    ep = report.records(evaluate(path, "arch=ep,nodes=4,sequences_per_gpu=8,hardware=h20"))[0]
    assert ep["attention_hardware"] == ep["ffn_hardware"] == "h20"


# ---- loader ----------------------------------------------------------------------------

BASE = """
model = "deepseek-v3"
[workload]
tpot_ms = 50
context_tokens = 4096
"""


def load_text(tmp_path: Path, head: str, tail: str = "") -> Instance:
    path = tmp_path / "scenario.toml"
    path.write_text(head + BASE + tail)
    return load_instance(path)


def problems(tmp_path: Path, head: str, tail: str = "") -> str:
    with pytest.raises(InputError) as info:
        load_text(tmp_path, head, tail)
    return str(info.value)


def test_split_keys_with_profiles_and_link(tmp_path):
    inst = load_text(
        tmp_path,
        'attention_hardware = "h20"\nffn_hardware = "h800"\nhardware_profile = "paper"\n'
        'ffn_hardware_profile = "sustained"\n',
        "[link]\ngbps = 25\n",
    )
    assert (inst.hardware.name, inst.hardware.profile) == ("h20", "paper")
    assert inst.ffn_hardware is not None and inst.ffn_hardware.profile == "sustained"
    assert inst.link_gbps == 25 and inst.hardware_choices == ()
    same = load_text(tmp_path, 'attention_hardware = "h800"\nffn_hardware = "h800"\n')
    assert same.ffn_hardware is None


def test_loader_errors_name_file_field_and_fix(tmp_path):
    both = problems(tmp_path, 'hardware = "h800"\nattention_hardware = "h20"\n')
    assert "scenario.toml: hardware and attention_hardware" in both and "once" in both
    one = problems(tmp_path, 'attention_hardware = "h20"\n')
    assert "ffn_hardware: missing" in one
    link = problems(tmp_path, 'hardware = "h800"\n', "[link]\ngbps = 0\n")
    assert "link.gbps = 0 is out of range: must be > 0 and <= 100,000" in link
    huge = problems(tmp_path, 'hardware = "h800"\n', "[link]\ngbps = inf\n")
    assert "link.gbps = inf must be finite" in huge
    lists = problems(
        tmp_path,
        'attention_hardware = "h20"\n',
        '[search]\nffn_hardware = ["h800", "h9000", 7, "h800"]\nattention_hardware = ["h20"]\n',
    )
    assert "search.ffn_hardware[1] = 'h9000': unknown hardware; known:" in lists
    assert "search.ffn_hardware[2] = 7: must be a hardware name or path" in lists
    assert "search.ffn_hardware[3] = 'h800': listed twice" in lists
    assert "attention_hardware and search.attention_hardware" in lists
    empty = problems(tmp_path, 'attention_hardware = "h20"\n', "[search]\nffn_hardware = []\n")
    assert "search.ffn_hardware = []: must be a non-empty list" in empty


def test_candidate_lists_fill_the_pairings(tmp_path):
    inst = load_text(
        tmp_path,
        'attention_hardware = "h20"\n',
        '[search]\nffn_hardware = ["h20", "h800"]\n',
    )
    assert [pairings.label(p) for p in pairings.pairings(inst, "afd")] == ["h20", "h20+h800"]
    assert [pairings.label(p) for p in pairings.pairings(inst, "ep")] == ["h20", "h800"]


def test_export_writes_every_pairings_programs(tmp_path):
    inst = cases()["lists-2x2"].replace(path=str(tmp_path / "mixed.toml"))
    solve(inst, architectures=["afd"], export=tmp_path / "out")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names and all(n.startswith("mixed.afd.") for n in names)
    assert {n.split(".")[2] for n in names} == {"h20", "h20-h800", "h800-h20", "h800"}
    assert {n.rsplit(".", 1)[1] for n in names} == {"lp", "mps"}


def test_fixed_mixed_instance_exports(tmp_path):
    inst = cases()["fixed-h20-h800"].replace(path=str(tmp_path / "fixed.toml"))
    solve(inst, architectures=["afd"], export=tmp_path / "out")
    assert any(p.suffix == ".mps" for p in (tmp_path / "out").iterdir())


def test_shipped_mixed_scenario_loads():
    inst = load_instance(Path(__file__).parents[1] / "instances/deepseek-v3-h20-h800-mixed.toml")
    assert (inst.attention_hardware_name, inst.ffn_hardware_name) == ("h20", "h800")
    assert inst.workload.context_tokens >= 32768


# ---- a fleet where the mixed pairing is the cheapest plan --------------------------------

LONG_FLEET = """
name = "long-context"
[[workload]]
name = "agent"
model = "gpt-oss-120b"
demand_tokens_per_s = 1900000
tpot_ms = 50
context_tokens = 32768
[[hardware]]
name = "h20"
price_per_gpu_hour = 1.24
[[hardware]]
name = "h800"
price_per_gpu_hour = 2.79
[search]
attention_nodes = 21
ffn_nodes = 1
nodes = { min = 18, max = 24 }
"""


def test_fleet_buys_the_mixed_pairing_when_it_is_cheapest(tmp_path):
    """gpt-oss-120b at 32k context: AFD with attention on H20 and experts on H800 serves
    5,476 tokens/s per GPU, against 4,996 for EP on H20 alone and 4,690 on H800 alone. At the
    catalogue prices (h20 $1.24, h800 $2.79 per GPU-hour: H800 is 2.25x the price for 6.7x the
    FLOPs) the plan buys the mixed pairing and is cheaper than every single-hardware plan:
    $461.28/h against $476.16 (h20 only) and $1,339.20 (h800 only).

    At equal price per BF16 FLOP (h20 $1.48, h800 $9.89) H20 is the cheaper part for every
    resource (FLOPs at par; HBM bandwidth, capacity, NVLink and NIC far cheaper), so the same
    candidates give EP on H20 ($568.32/h) and the mixed pairing is not bought: the win needs
    the FFN part cheaper per FLOP, as H800 is at market prices."""
    from formulations.fleet import Pool
    from solver.io.fleet import load_fleet
    from solver.sizing.candidates import compute_frontiers
    from solver.sizing.size import build_problem
    from solver.sizing.solve import solve_fleet

    roofline_catalogue(tmp_path)
    path = tmp_path / "long.toml"
    path.write_text(LONG_FLEET)
    fleet = load_fleet(path)
    frontiers, classes = compute_frontiers(fleet, ("afd", "ep"), workers=1, progress=False)
    problem, offers, _ = build_problem(fleet, frontiers, classes)

    def plan(prob):
        best = solve_fleet(prob)
        assert best.status == Status.OPTIMAL and best.replicas is not None
        return best.cost_per_hour, {offers[i].pairing for i, x in enumerate(best.replicas) if x}

    def only(prob, hw):
        keep = [i for i, c in enumerate(prob.candidates) if {h for h, _ in c.gpus} == {hw}]
        return solve_fleet(prob.restrict(keep)).cost_per_hour

    cost, bought = plan(problem)
    assert {(p.attention_hardware, p.ffn_hardware, p.architecture) for p in bought} == {
        ("h20", "h800", "afd")
    }
    assert cost == pytest.approx(461.28)
    assert cost < only(problem, "h20") < only(problem, "h800")
    per_flop = dataclasses.replace(problem, pools=(Pool("h20", 1.48), Pool("h800", 9.89)))
    cost, bought = plan(per_flop)
    assert {p.attention_hardware for p in bought} == {"h20"} and cost == pytest.approx(568.32)
    assert all(p.ffn_hardware == "h20" for p in bought)
