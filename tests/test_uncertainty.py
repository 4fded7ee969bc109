"""`solve --uncertainty` (docs/model.md §19.4-§19.5): probabilities at the extremes and in
between, determinism, the robust deployment against brute force, sources and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import run
from conftest import INSTANCES

from formulations import architectures
from formulations.costs import CostModel
from solver.errors import InputError
from solver.io.loader import load_instance
from solver.uncertainty.run import SHAPE_KEYS, uncertainty
from solver.uncertainty.sampling import instance_of

# DeepSeek-V3 on H800 (paper profile): EP wins by ~1.3x whatever the FFN efficiency in a
# narrow band. Small ranges keep each sample's solve to milliseconds.
WIDE = """
model = "deepseek-v3"
hardware = "h800"
[workload]
tpot_ms = 50
mtp_acceptance = 1.7
context_tokens = 4096
step_gap_ms = 15
[search]
attention_nodes = { min = 1, max = 6 }
ffn_nodes = { min = 1, max = 3 }
nodes = { min = 1, max = 8 }
[uncertainty]
ffn_efficiency = "0.55:0.57"
"""

# Kimi-K2 on H20: a close call; the FFN efficiency decides it.
CLOSE = """
model = "kimi-k2"
hardware = "h20"
[workload]
tpot_ms = 50
context_tokens = 4096
step_gap_ms = 10
[search]
attention_nodes = { min = 1, max = 8 }
ffn_nodes = { min = 1, max = 4 }
nodes = { min = 4, max = 8 }
[uncertainty]
ffn_efficiency = "0.3:0.95"
"""


def scenario(tmp_path, text: str, name: str = "s.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_same_winner_everywhere_gives_probability_one(tmp_path):
    u = uncertainty(scenario(tmp_path, WIDE), 12, seed=3, workers=1)
    assert u.probability_wins == {"afd": 0.0, "ep": 1.0, "tp": 0.0}  # TP: 1T weights on 8 GPUs
    ratio = u.quantiles["afd/ep"]
    assert ratio["p95"] < 0.9  # a wide margin, in every sample
    assert u.robust is not None and u.robust["architecture"] == "ep"


def test_a_verdict_that_flips_inside_the_ranges_is_a_probability_between(tmp_path):
    u = uncertainty(scenario(tmp_path, CLOSE), 24, seed=1, workers=1)
    p = u.probability_wins
    assert 0.0 < p["afd"] < 1.0 and p["afd"] + p["ep"] == pytest.approx(1.0)
    # Each sample's winner is the architecture with the higher optimum.
    by_sample: dict[int, dict[str, float]] = {}
    for row in u.sample_rows:
        by_sample.setdefault(row["sample"], {})[row["architecture"]] = row["objective"]
    afd_wins = sum(r["afd"] > r["ep"] for r in by_sample.values())
    assert p["afd"] == pytest.approx(afd_wins / 24)


def test_same_seed_same_answer_and_other_seed_other_samples(tmp_path):
    path = scenario(tmp_path, CLOSE)
    one = uncertainty(path, 8, seed=7, workers=1).to_dict()
    two = uncertainty(path, 8, seed=7, workers=2).to_dict()
    assert json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)
    three = uncertainty(path, 8, seed=8, workers=1).to_dict()
    assert three["quantiles"] != one["quantiles"]


def _brute_best(inst, shape: dict, n_hi: int) -> float:
    """Best own-pace tokens/s per GPU of a shape over every n in [1, n_hi] that fits and meets
    the target: the forward model on the whole range, no caps, no lemma."""
    arch = shape["architecture"]
    cm = CostModel.of(inst, arch)
    module = architectures.get(arch)
    n = np.arange(1, n_hi + 1)
    if arch == "afd":
        a, f = shape["attention_nodes"], shape["ffn_nodes"]
        s = module.stages(cm, a, f, n, shape["redundant_experts"], shape["micro_batches"])
        serving, units = a, a + f
    else:
        s = module.stages(cm, shape["nodes"], n, shape["redundant_experts"], shape["micro_batches"])
        serving = units = shape["nodes"]
    ok = np.logical_and.reduce(list(module.checks(cm, s).values()))
    tpot = cm.tpot_s(s.stage_s, shape["micro_batches"])
    value = serving * n / tpot / units
    return float(value[ok].max()) if ok.any() else 0.0


def test_robust_deployment_has_the_best_worst_case_by_brute_force(tmp_path):
    text = CLOSE.replace("nodes = { min = 4, max = 8 }", "nodes = { min = 4, max = 6 }")
    text = text.replace("[search]", "[search]\nsequences_per_gpu = { min = 1, max = 600 }")
    path = scenario(tmp_path, text)
    u = uncertainty(path, 10, seed=2, workers=1)
    inst = load_instance(path)
    samples = [
        {k[3:]: v for k, v in row.items() if k.startswith("hw:") and v is not None}
        for row in {r["sample"]: r for r in u.sample_rows}.values()
    ]
    shapes = [{k: s[k] for k in SHAPE_KEYS} for s in u.shapes]
    assert len(shapes) >= 2
    worst = [min(_brute_best(instance_of(inst, smp), sh, 600) for smp in samples) for sh in shapes]
    robust = {k: u.robust[k] for k in ("architecture", "attention_nodes", "ffn_nodes", "nodes")}
    mine = next(
        i
        for i, sh in enumerate(shapes)
        if {k: sh[k] for k in robust} == robust
        and sh["redundant_experts"] == u.robust["redundant_experts"]
        and sh["micro_batches"] == u.robust["micro_batches"]
    )
    assert u.robust["worst_tokens_per_s_per_gpu"] == pytest.approx(worst[mine], rel=1e-9)
    assert all(worst[mine] >= w * (1 - 1e-9) for w in worst)


def test_calibrated_hardware_is_sampled_from_its_covariance(tmp_path):
    hw = tmp_path / "hardware"
    hw.mkdir()
    text = (load_instance.__globals__["SHIPPED"] / "hardware" / "h20.toml").read_text()
    text += (
        "\n[calibration]\nrows = 30\nresidual_rms = 0.04\n"
        'parameters = ["efficiency.ffn", "latency.dispatch_scale_out"]\n'
        "covariance = [[0.0025, 0.0], [0.0, 100.0]]\n"
    )
    (hw / "h20.toml").write_text(text)
    path = scenario(tmp_path, CLOSE.split("[uncertainty]")[0])
    u = uncertainty(path, 30, seed=5, workers=1)
    assert u.sources == ["h20: calibrated efficiency.ffn, latency.dispatch_scale_out"]
    draws = np.array(
        [r["hw:h20/ffn_efficiency"] for r in u.sample_rows if r["architecture"] == "afd"]
    )
    assert 0.01 <= draws.min() and draws.max() <= 1.0
    assert 0.87 - 0.05 < draws.mean() < 0.87 + 0.05  # h20's catalogue 0.87, sd 0.05
    assert draws.std() == pytest.approx(0.05, rel=0.5)


def test_nothing_to_sample_and_bad_arguments(tmp_path, capsys):
    plain = scenario(tmp_path, CLOSE.split("[uncertainty]")[0])
    with pytest.raises(InputError, match="needs something uncertain"):
        uncertainty(plain, 4)
    for bad in (0, -1, "5", 2.5, True, 10**9):
        with pytest.raises(InputError, match="samples"):
            uncertainty(plain, bad)  # type: ignore[arg-type]
    for kwargs, fragment in (
        ({"seed": -1}, "--seed"),
        ({"workers": "2"}, "workers"),
        ({"architectures": "ep"}, "architectures"),
        ({"time_limit_s": float("nan")}, "time"),
    ):
        with pytest.raises(InputError, match=fragment):
            uncertainty(scenario(tmp_path, CLOSE, "c.toml"), 4, **kwargs)  # type: ignore[arg-type]
    code, _, err = run(capsys, "solve", str(plain), "--uncertainty", "3", "--set",
                       "uncertainty.ffn_efficiency=0.9:0.2")  # fmt: skip
    assert code == 2 and "low 0.9 is above high 0.2" in err
    code, _, err = run(capsys, "solve", str(plain), "--seed", "3")
    assert code == 2 and "--seed: goes with --uncertainty" in err


def test_out_dir_resumes_and_refuses_to_mix(tmp_path, capsys):
    path = scenario(tmp_path, CLOSE)
    out = tmp_path / "run"
    argv = ["solve", str(path), "--uncertainty", "6", "--workers", "1", "--out", str(out)]
    code, first, err = run(capsys, *argv, "--format", "json")
    assert code == 0, err
    assert {p.name for p in out.iterdir()} >= {"results.csv", "uncertainty.json", "uncertainty.png"}
    code, _, err = run(capsys, *argv)
    assert code == 2 and "--resume" in err
    code, again, err = run(capsys, *argv, "--resume", "--format", "json")
    assert code == 0 and json.loads(again) == json.loads(first), err
    code, _, err = run(capsys, *argv[:-2], "--out", str(out), "--resume", "--seed", "9")
    assert code == 2 and "another seed" in err
    code, _, err = run(capsys, *argv, "--force", "--seed", "9")
    assert code == 0, err


@pytest.mark.parametrize(
    ("stem", "arch"),
    [
        ("qwen3-235b-a22b-h200", "afd"),
        ("qwen3-235b-a22b-h200", "ep"),
        ("qwen3-235b-a22b-h200", "tp"),
        ("qwen3-235b-a22b-h200-one-node", "tp"),
        ("qwen3-235b-a22b-h20-h800-64k", "tp"),
    ],
)
def test_a_shape_at_its_best_batch_is_the_optimum_it_came_from(stem, arch):
    """The robust pass re-runs each optimal shape at its best batch: on the nominal hardware
    that is the solve's own optimum (TP counts one rank per group of t GPUs: it was t times
    too high)."""
    from formulations import archspec
    from formulations.types import ARCHITECTURES
    from solver.optimize import optimize
    from solver.uncertainty.run import shape_values

    inst = load_instance(INSTANCES / f"{stem}.toml", {"search.architectures": list(ARCHITECTURES)})
    out = optimize(inst, arch)
    d = out.deployment
    assert d is not None and out.pairing is not None
    shape = {
        "architecture": arch,
        **archspec.unit_cells(d),
        "redundant_experts": d.redundant,
        "micro_batches": d.micro_batches,
        "attention_hardware": out.pairing[0].name,
        "ffn_hardware": out.pairing[1].name,
    }
    values, best_n = shape_values(inst, [shape])
    assert values[0] == pytest.approx(out.objective, rel=1e-9)
    assert int(best_n[0]) == d.sequences_per_gpu


def test_a_robust_pass_cut_by_the_time_limit_covers_the_samples_done(tmp_path, monkeypatch):
    """The robust pass checks the run's deadline per sample (issue 17): samples it did not reach
    are left out of the worst case and p5, and the report says how many it covered."""
    import solver.uncertainty.run as run_module

    real = run_module._robust_sample
    calls = []

    def first_three(options, path, point):
        calls.append(point)
        if len(calls) > 3:  # the clock ran out after three samples
            options = {**options, "deadline": 0.0}
        return real(options, path, point)

    monkeypatch.setattr(run_module, "_robust_sample", first_three)
    path = scenario(tmp_path, CLOSE)
    u = uncertainty(path, 8, seed=2, workers=1)
    assert u.robust_samples == 3 and u.robust is not None
    done = sorted({int(r["sample"]) for r in u.shape_rows})
    assert len(done) == 3
    from solver.uncertainty.output import text

    assert "cover 3 of 8 samples" in text(u)
    assert u.to_dict()["robust_samples"] == 3
    monkeypatch.setattr(run_module, "_robust_sample", real)
    full = uncertainty(path, 8, seed=2, workers=1)
    assert full.robust_samples == 8 and "cover" not in text(full)
