"""Fleet files are validated like instances: every problem at once, each naming file and field."""

from __future__ import annotations

import pytest
from conftest import INSTANCES

from solver.errors import InputError
from solver.io.fleet import load_fleet

FLEETS = sorted((INSTANCES / "fleets").glob("*.toml"))

GOOD = """
name = "ok"
[[workload]]
name = "chat"
model = "deepseek-v3"
demand_tokens_per_s = 100000
tpot_ms = 50
context_tokens = 4096
mtp_acceptance = 1.7
[[hardware]]
name = "h800"
price_per_gpu_hour = 2.0
inventory_gpus = 64
[[hardware]]
name = "h20"
price_per_gpu_hour = 1.0
profile = "paper"
[search]
nodes = { min = 1, max = 4 }
"""


def write(tmp_path, text: str):
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    return path


def problems(tmp_path, text: str) -> list[str]:
    with pytest.raises(InputError) as exc:
        load_fleet(write(tmp_path, text))
    return exc.value.problems


@pytest.mark.parametrize("path", FLEETS, ids=[p.stem for p in FLEETS])
def test_shipped_fleets_validate(path):
    fleet = load_fleet(path)
    assert len(fleet.workloads) >= 3 and len(fleet.hardware) >= 2
    for w in fleet.workloads:
        for h in fleet.hardware:
            inst = fleet.instance(w, h.name)
            assert inst.workload.demand_tokens_per_s == w.demand_tokens_per_s


def test_good_fleet_loads(tmp_path):
    fleet = load_fleet(write(tmp_path, GOOD))
    assert [w.name for w in fleet.workloads] == ["chat"]
    assert fleet.workloads[0].workload.mtp_acceptance == 1.7
    assert fleet.hardware[0].inventory_gpus == 64 and fleet.hardware[1].inventory_gpus is None
    assert fleet.hardware[1].profile == "paper" and fleet.hardware[0].profile == "sustained"
    inst = fleet.instance(fleet.workloads[0], "h20")
    assert inst.hardware.profile == "paper" and inst.search.nodes.hi == 4


def test_every_problem_is_reported_at_once(tmp_path):
    text = """
name = "bad"
colour = "blue"
[[workload]]
name = "chat"
model = "deepseek-v3"
demand_tokens_per_s = 1e13
tpot_ms = -5
context_tokens = 4096
speed = 3
[[workload]]
name = "chat"
model = "no-such-model"
tpot_ms = 50
context_tokens = 4096
[[hardware]]
name = "h800"
price_per_gpu_hour = inf
inventory_gpus = -8
[[hardware]]
name = "h800"
price_per_gpu_hour = 2.0
[[hardware]]
name = "warp-drive"
price_per_gpu_hour = 2.0
profile = "fast"
[search]
objective = "min_gpus"
nodez = 3
"""
    found = "\n".join(problems(tmp_path, text))
    expected = [
        "colour: unknown field",
        "workload[0].demand_tokens_per_s = 10000000000000.0 is out of range: "
        "must be > 0 and <= 1e+10",
        "workload[0].tpot_ms = -5",
        "workload[0].speed: unknown field",
        "workload[1].name = 'chat': not unique",
        "workload[1].demand_tokens_per_s: missing required field",
        "hardware[0].price_per_gpu_hour = inf must be finite",
        "hardware[0].inventory_gpus = -8 is out of range: must be >= 0",
        "hardware[1].name = 'h800': not unique",
        "hardware[2].name = 'warp-drive': unknown hardware",
        "workload[1].model = 'no-such-model': unknown model",
        "hardware[2].profile = 'fast' is out of range",
        "search.objective: not allowed in a fleet file",
        "search.nodez: unknown field",
    ]
    for text_part in expected:
        assert text_part in found, text_part
    assert all(line.startswith(str(tmp_path / "fleet.toml")) for line in found.splitlines())


def test_unknown_names_are_named(tmp_path):
    text = GOOD.replace('model = "deepseek-v3"', 'model = "no-such-model"').replace(
        'name = "h20"', 'name = "warp-drive"'
    )
    found = "\n".join(problems(tmp_path, text))
    assert "workload[0].model = 'no-such-model': unknown model" in found
    assert "hardware[1].name = 'warp-drive': unknown hardware" in found


def test_price_upper_bound_and_empty_lists(tmp_path):
    found = "\n".join(
        problems(
            tmp_path,
            'name = "x"\nworkload = []\n[[hardware]]\nname = "h800"\nprice_per_gpu_hour = 5000\n',
        )
    )
    assert "workload: empty" in found
    assert "price_per_gpu_hour = 5000 is out of range: must be >= 0.0001 and <= 1,000" in found


def test_search_is_checked_like_an_instance(tmp_path):
    found = "\n".join(
        problems(tmp_path, GOOD.replace("nodes = {", "afd_micro_batches = 2\nnodes = {"))
    )
    assert "search.afd_micro_batches: min 2 is out of range" in found
