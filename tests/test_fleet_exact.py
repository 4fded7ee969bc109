"""Fleet plans against brute force over every deployment's replicas (issue 14, docs/model.md §18).

The oracle shares nothing with `size`'s candidates: it asks the `enumerate` backend (the
exhaustive oracle of the integer programs, solver/enumerate.py) for the best tokens/s of every
unit count of every pairing of the search ranges, one solve per unit count, then searches
every multiset of replicas that covers each workload's demand, keeps per workload the
cheapest cover for each use of the finite inventories, and combines the workloads within
the inventories. The ranges are tiny so that this is quick.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest

from formulations.types import IntRange
from solver import report
from solver.api import solve
from solver.io.fleet import load_fleet
from solver.io.loader import instance_from_table
from solver.sizing.candidates import workload_class
from solver.sizing.size import size

MODEL = """
[[workload]]
name = "{name}"
model = "deepseek-v3"
demand_tokens_per_s = {demand}
tpot_ms = 50
context_tokens = 4096
mtp_acceptance = 1.7
step_gap_ms = 15
"""


def two_hardware_fleet(
    name: str, demands: dict[str, int], h800: str, attention: str, ffn: str
) -> str:
    """DeepSeek-V3 chat workloads of one class, AFD only, H800 ($2.79, `h800` extra keys such
    as its inventory) and H200 ($4.54, unlimited), with tiny unit ranges."""
    text = f'name = "{name}"\n' + "".join(
        MODEL.format(name=w, demand=d) for w, d in demands.items()
    )
    return text + (
        f'[[hardware]]\nname = "h800"\nprice_per_gpu_hour = 2.79\n{h800}\n'
        '[[hardware]]\nname = "h200"\nprice_per_gpu_hour = 4.54\n'
        f'[search]\narchitectures = ["afd"]\nattention_nodes = {attention}\n'
        f"ffn_nodes = {ffn}\nsequences_per_gpu = {{ min = 1, max = 600 }}\n"
    )


COUNTEREXAMPLE = two_hardware_fleet(
    "counterexample",
    {"small": 280000, "big": 700000},
    "inventory_gpus = 40",
    "{ min = 1, max = 5 }",
    "{ min = 1, max = 2 }",
)


def deployments(fleet, w: int, archs: tuple[str, ...]) -> list[tuple[dict[str, int], float]]:
    """(GPUs per hardware, best tokens/s) of every unit count of every pairing, by enumeration."""
    out = []
    work = fleet.workloads[w]
    for att, ffn in itertools.product(fleet.hardware, fleet.hardware):
        inst = instance_from_table(
            fleet.scenario_table(work, att.name, ffn.name), fleet.base, fleet.path
        )
        s, g = inst.search, inst.search.unit_gpus
        grids = {"afd": [("attention_nodes", "ffn_nodes")], "ep": [("nodes",)]}
        for arch in archs:
            if arch == "ep" and att.name != ffn.name:
                continue
            fields = grids[arch][0]
            ranges = [getattr(s, f).values() for f in fields]
            for units in itertools.product(*ranges):
                one = {f: IntRange(u, u) for f, u in zip(fields, units, strict=True)}
                search = dataclasses.replace(s, objective="total_tokens", max_gpus=10**6, **one)
                row = report.records(
                    solve(inst.replace(search=search), architectures=[arch], backend="enumerate")
                )[0]
                if row["status"] != "optimal":
                    continue
                gpus = {att.name: units[0] * g}
                if len(units) > 1:
                    gpus[ffn.name] = gpus.get(ffn.name, 0) + units[1] * g
                out.append((gpus, float(row["tokens_per_s"])))
    return out


def covers(deps, demand: float, price: dict[str, float], finite: list[str]):
    """Per use of the finite inventories: the cheapest multiset of replicas covering `demand`.

    Depth first over replica counts; a branch stops when a cover already found uses no more of
    any inventory and costs no more than the branch's cost plus the least it must still pay
    (what is left at the best price per token/s of the deployments still to choose)."""
    best: dict[tuple[int, ...], float] = {}
    # A deployment with no fewer GPUs on any hardware and no more tokens/s than another one
    # never helps: the other one replaces it at no more cost or inventory (ties: the first).
    hardware = sorted(price)
    keys = [(tuple(g.get(h, 0) for h in hardware), t) for g, t in deps]

    def beats(j: int, i: int) -> bool:
        if keys[j] == keys[i]:
            return j < i
        below = all(a <= b for a, b in zip(keys[j][0], keys[i][0], strict=True))
        return below and keys[j][1] >= keys[i][1]

    def beaten(i: int) -> bool:
        return any(beats(j, i) for j in range(len(keys)) if j != i)

    deps = [d for i, d in enumerate(deps) if not beaten(i)]
    deps.sort(key=lambda d: -d[1])
    unit = [sum(price[h] * n for h, n in gpus.items()) for gpus, _ in deps]
    ratio = [min((unit[j] / deps[j][1] for j in range(k, len(deps))), default=0.0)
             for k in range(len(deps))]  # fmt: skip

    def walk(k: int, rest: float, cost: float, use: tuple[int, ...]) -> None:
        if rest <= 1e-6:
            if cost < best.get(use, math.inf) - 1e-9:
                best[use] = cost
            return
        least = cost + rest * ratio[k] if k < len(deps) else math.inf
        if k == len(deps) or any(
            c <= least + 1e-9 and all(a <= b for a, b in zip(u, use, strict=True))
            for u, c in best.items()
        ):
            return
        gpus, tokens = deps[k]
        for m in range(math.ceil(rest / tokens), -1, -1):
            more = tuple(u + m * gpus.get(h, 0) for u, h in zip(use, finite, strict=True))
            walk(k + 1, rest - m * tokens, cost + m * unit[k], more)

    walk(0, demand, 0.0, tuple(0 for _ in finite))
    return best


def brute_force(path, archs: tuple[str, ...]) -> float | None:
    fleet = load_fleet(path)
    price = {h.name: h.price_per_gpu_hour for h in fleet.hardware}
    finite = [h.name for h in fleet.hardware if h.inventory_gpus is not None]
    limit = [fleet.hardware_named(h).inventory_gpus for h in finite]
    per_workload = []
    seen: dict[str, list[tuple[dict[str, int], float]]] = {}  # workloads of one class
    for w, work in enumerate(fleet.workloads):
        key = workload_class(fleet, w)
        deps = seen[key] = seen.get(key) or deployments(fleet, w, archs)
        per_workload.append(covers(deps, work.demand_tokens_per_s, price, finite))
    best = None
    for combo in itertools.product(*(c.items() for c in per_workload)):
        use = [sum(u[i] for u, _ in combo) for i in range(len(finite))]
        if all(x <= cap for x, cap in zip(use, limit, strict=True)):
            cost = sum(c for _, c in combo)
            best = cost if best is None else min(best, cost)
    return best


SPLIT = two_hardware_fleet(
    "split",
    {"chat": 294500, "qa": 264000},
    "inventory_gpus = 96",
    "{ min = 10, max = 13 }",
    "{ min = 9, max = 11 }",
)


@pytest.mark.parametrize("profile", ["", 'profile = "paper"'])
def test_issue_fleet_equals_brute_force(tmp_path, profile):
    """Issue 14's fleet: two DeepSeek-V3 chat workloads of one class (280k and 700k tokens/s),
    AFD only, H800 $2.79 with 40 GPUs, H200 $4.54 unlimited (H800 at the sustained profile,
    then the paper's): proven optimal at brute force's cost over every deployment of the
    ranges ($611.76/h and $547.44/h)."""
    path = tmp_path / "counterexample.toml"
    path.write_text(
        COUNTEREXAMPLE.replace("inventory_gpus = 40", f"inventory_gpus = 40\n{profile}")
    )
    result = size(path, workers=1, progress=False)
    assert result.status == "optimal" and result.gap == 0.0
    assert result.cost_per_hour == pytest.approx(brute_force(path, ("afd",)))


def test_split_per_pool_beats_the_total_gpu_frontier(tmp_path):
    """Two workloads of one class (294.5k and 264k tokens/s), H800 scarce (96 GPUs) and cheap,
    H200 dear. AFD (12, 10) with attention on H800 serves 294,587 tokens/s on 176 GPUs; a
    frontier by total GPUs keeps (11, 11) there (323,588 tokens/s), whose 88 FFN GPUs on
    H200 cost $14/h more, and (12, 10) on H800 alone does not fit. Brute force: $1,321.12/h
    (the total-GPU frontier's plan: $1,335.12/h)."""
    path = tmp_path / "split.toml"
    path.write_text(SPLIT)
    result = size(path, workers=1, progress=False)
    assert result.status == "optimal"
    assert result.cost_per_hour == pytest.approx(brute_force(path, ("afd",)))
    assert result.cost_per_hour == pytest.approx(1321.12)
    chat = [r for r in report.records(result.plan) if r["workload"] == "chat"]
    assert [(r["attention_hardware"], r["ffn_hardware"], r["attention_nodes"], r["ffn_nodes"])
            for r in chat] == [("h800", "h200", 12, 10)]  # fmt: skip


def test_candidates_match_every_enumerated_deployment(tmp_path):
    """The lemma of docs/model.md §18.1, checked against the oracle: every deployment of the
    ranges is matched by a candidate of its workload with no more GPUs on any hardware and at
    least min(its tokens/s, the demand)."""
    from solver.sizing.candidates import compute_frontiers
    from solver.sizing.size import build_problem

    path = tmp_path / "split.toml"
    path.write_text(SPLIT)
    fleet = load_fleet(path)
    frontiers, classes = compute_frontiers(fleet, ("afd",), workers=1, progress=False)
    problem, _, _ = build_problem(fleet, frontiers, classes)
    for w, work in enumerate(fleet.workloads):
        demand = work.demand_tokens_per_s
        mine = [c for c in problem.candidates if c.workload == w]
        for gpus, tokens in deployments(fleet, w, ("afd",)):
            assert any(
                all(c.gpus_on(h) <= n for h, n in gpus.items())
                and c.total_gpus <= sum(gpus.values())
                and min(c.tokens_per_s, demand) >= min(tokens, demand) - 1e-6
                for c in mine
            ), (work.name, gpus, tokens)


def random_fleet_text(seed: int) -> tuple[str, tuple[str, ...]]:
    """2-3 workloads (some of one class), 2-3 hardware with their own prices and inventories,
    mixed pools, tiny ranges."""
    import json
    import random

    rng = random.Random(seed)
    text = f'name = "random{seed}"\n'
    for i in range(rng.choice((2, 3))):
        text += MODEL.format(name=f"w{i}", demand=rng.randrange(40, 400) * 1000)
    for h in rng.sample(["h800", "h200", "h20"], rng.choice((2, 3))):
        price = rng.choice([1.0, 1.24, 2.0, 2.79, 3.5, 4.54])
        text += f'[[hardware]]\nname = "{h}"\nprice_per_gpu_hour = {price}\n'
        if (inventory := rng.choice([None, 32, 48, 64, 96])) is not None:
            text += f"inventory_gpus = {inventory}\n"
    archs = rng.choice([("afd",), ("afd", "ep")])
    text += (
        f"[search]\narchitectures = {json.dumps(list(archs))}\n"
        "attention_nodes = { min = 1, max = 4 }\nffn_nodes = { min = 1, max = 2 }\n"
        "nodes = { min = 1, max = 4 }\nsequences_per_gpu = { min = 1, max = 600 }\n"
    )
    return text, archs


@pytest.mark.parametrize("seed", [1, 3, 6, 7])
def test_small_random_fleets_equal_brute_force(tmp_path, seed):
    text, archs = random_fleet_text(seed)
    path = tmp_path / "random.toml"
    path.write_text(text)
    result = size(path, workers=1, progress=False)
    expected = brute_force(path, archs)
    if expected is None:
        assert result.status == "infeasible"
    else:
        assert result.status == "optimal"
        assert result.cost_per_hour == pytest.approx(expected)


def test_grid_agrees_with_the_integer_programs(tmp_path):
    """The unit grid's best tokens/s per unit count equals HiGHS's at those units."""
    from solver.sizing.grid import unit_grid

    path = tmp_path / "split.toml"
    path.write_text(SPLIT)
    fleet = load_fleet(path)
    inst = instance_from_table(
        fleet.scenario_table(fleet.workloads[0], "h800", "h200"), fleet.base, fleet.path
    )
    rows, complete = unit_grid(inst, "afd")
    assert complete and len(rows) == 12
    for row in rows[::5]:
        one = {
            "attention_nodes": IntRange(row["attention_nodes"], row["attention_nodes"]),
            "ffn_nodes": IntRange(row["ffn_nodes"], row["ffn_nodes"]),
        }
        search = dataclasses.replace(inst.search, objective="total_tokens", max_gpus=10**6, **one)
        best = report.records(solve(inst.replace(search=search), architectures=["afd"]))[0]
        assert best["tokens_per_s"] == pytest.approx(row["tokens_per_s"], rel=1e-9)


def test_cut_candidates_make_the_plan_feasible_without_a_gap(tmp_path, monkeypatch):
    """A candidate search the time limit cut short proves nothing: `feasible`, gap null, and
    the JSON object keeps its keys with `gap` appended."""
    import json

    from solver.sizing import grid

    real = grid.unit_grid
    monkeypatch.setattr(grid, "unit_grid", lambda *a, **k: (real(*a, **k)[0], False))
    path = tmp_path / "split.toml"
    path.write_text(SPLIT)
    result = size(path, workers=1, progress=False)
    assert result.status == "feasible" and result.gap is None
    data = json.loads(json.dumps(result.to_dict()))
    assert list(data)[-1] == "gap" and data["gap"] is None


def test_progress_names_workload_pairing_and_proof(tmp_path, capsys):
    """With progress on (the default on a terminal) stderr gets one line per workload class and
    pairing as its candidates are proven, then the fleet program's; stdout stays clean."""
    path = tmp_path / "split.toml"
    path.write_text(SPLIT)
    size(path, workers=1, progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    assert "size: chat (+1 of its class) on h800+h200 AFD: " in err
    assert "every deployment of the ranges" in err
    assert "size: fleet program: " in err
