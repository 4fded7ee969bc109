"""Hardening (issue 9): every bad input, output and resource request is one clear line and
exit code 2; outputs are never overwritten without --force; a resumed sweep must be the same
sweep; a sweep's workers die with it; exit codes say whether the command produced an answer."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from cli_helpers import GOOD, SWEEP, WORKLOAD, assert_clean, run, scenario
from conftest import INSTANCES, ROOT

from solver import exit_codes
from solver.cli import main
from solver.errors import InputError
from solver.io import limits
from solver.io.limits import resource_markdown
from solver.io.loader import load_instance, validate_hardware_file, validate_model_file
from solver.io.loads import LoadsError, load_expert_loads
from solver.io.schema import bounds_markdown

# ---- one validation pass ---------------------------------------------------------------------


def test_every_problem_of_a_scenario_is_reported_in_one_run(tmp_path, capsys):
    text = (
        'model = "no-such-model"\nhardware = "no-such-gpu"\ncolour = "red"\n'
        "[workload]\ntpot_ms = nan\ncontext_tokens = 4096\nmtp_acceptance = 1e308\n"
        '[search]\narchitectures = ["afd", "afd"]\nunit_gpus = 18446744073709551616\n'
        "nodes = { min = 1, max = 1e308 }\n[overrides]\nmodel = 5\n"
    )
    code, out, err = run(capsys, "validate", scenario(tmp_path, text))
    assert code == 2 and out == ""
    assert_clean(err)
    for fragment in (
        "model = 'no-such-model': unknown model",
        "hardware = 'no-such-gpu': unknown hardware",  # reported although the model is unknown
        "colour: unknown field",
        "workload.tpot_ms = nan must be finite",
        "workload.mtp_acceptance = 1e+308 is out of range: must be >= 1 and <= 64",
        "search.architectures = ['afd', 'afd']: afd given more than once",
        "search.unit_gpus = 18446744073709551616 is out of range",
        "search.nodes: max 1e+308 is out of range",
        "overrides.model = 5: must be a table",
    ):
        assert fragment in err, fragment


@pytest.mark.parametrize(
    "setting, fragment",
    [
        ("search.ffn_nodes={min=1,max=1e308}", "search.ffn_nodes: max 1e+308 is out of range"),
        ("search.max_gpus=18446744073709551616", "search.max_gpus = 18446744073709551616 is out"),
        ("model.hidden_size=1e308", "model.hidden_size = 1e+308 is out of range"),
        ("workload.tpot_ms=inf", "workload.tpot_ms = inf must be finite"),
        ("workload.step_gap_ms=-inf", "workload.step_gap_ms = -inf must be finite"),
        ("hardware.scaleout_gbps=nan", "hardware.scaleout_gbps = nan must be finite"),
        ("hardware.gemm_calibration=[[1,nan],[2,3]]", "must hold finite numbers"),
        ("workload.demand_tokens_per_s=1e300", "must be > 0 and <= 1e+10"),
        ("search.time_limit_s=0", "search.time_limit_s = 0"),
        ("model=5", "model = 5: must be a model name"),
        ("name=5", "name = 5 must be a string"),
        ("search.sequences_per_gpu=[1, 2, 3]", "search.sequences_per_gpu = [1, 2, 3] must be"),
    ],
)
def test_wrong_values_and_types_are_one_clear_line(tmp_path, capsys, setting, fragment):
    code, _, err = run(capsys, "solve", scenario(tmp_path), "--set", setting)
    assert code == 2
    assert_clean(err, lines=1)
    assert fragment in err


def test_deep_nesting_and_huge_names_do_not_crash(tmp_path, capsys):
    deep = scenario(tmp_path, "x = " + "[" * 2000 + "]" * 2000 + "\n", "deep.toml")
    code, _, err = run(capsys, "validate", deep)
    assert code == 2 and "nested more than" in err
    assert_clean(err, lines=1)
    nested = scenario(tmp_path, "x = " + "[" * 100 + "]" * 100 + "\n", "nested.toml")
    code, _, err = run(capsys, "validate", nested)
    assert code == 2 and "nested more than" in err
    code, _, err = run(capsys, "solve", scenario(tmp_path), "--set", "x=" + "[" * 3000)
    assert code == 2
    assert_clean(err)
    name = "m" * 300
    code, _, err = run(capsys, "solve", scenario(tmp_path), "--set", f'model="{name}"')
    assert code == 2 and "unknown model" in err and "(300 chars)" in err
    assert_clean(err, lines=1)
    code, _, err = run(capsys, "solve", scenario(tmp_path), "--set", f'model="{name}.toml"')
    assert code == 2 and "no file" in err
    code, _, err = run(capsys, "validate", "/dev/zero")
    assert code == 2 and "not a regular file" in err


def test_unknown_model_and_hardware_both_reported_with_debug_after_the_subcommand(tmp_path, capsys):
    path = scenario(tmp_path)
    code, _, err = run(
        capsys, "solve", path, "--set", "model=nope", "--set", "hardware=nada", "--debug"
    )
    assert code == 2
    assert "Traceback" in err  # --debug after the subcommand works
    assert "model = 'nope': unknown model" in err and "hardware = 'nada': unknown hardware" in err
    code, _, err = run(capsys, "--debug", "validate", path, "--set", "model=nope")
    assert code == 2 and "Traceback" in err


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert re.match(r"afd-solver \S+", capsys.readouterr().out)


HARDWARE = """\
fp8_tflops = 1979
bf16_tflops = 989
hbm_gb = 80
hbm_tbps = 3.35
scaleup_gbps = 200
scaleout_gbps = 50
gpus_per_node = 8
scaleup_domain_gpus = 8
"""


@pytest.mark.parametrize(
    "extra, fragment",
    [
        ("ffn_efficiency = 0.5\n", "ffn_efficiency: not allowed in a hardware file"),
        ("profile = 'paper'\n", "profile: not allowed in a hardware file"),
        ("[efficiency]\nffn = 1.5\n", "efficiency.ffn = 1.5 is out of range"),
        ("[efficiency]\nwarp = 0.5\n", "efficiency.warp: unknown field"),
        ("[paper]\nscaleup_gbps = nan\n", "paper.scaleup_gbps = nan must be finite"),
        ("[paper]\nscaleup_domain_gpus = 4\n", "smaller than gpus_per_node = 8 (paper profile)"),
        (
            "[gemm_calibration]\ntokens_per_expert = [1, 2]\ntflops = [nan, 5]\n",
            "gemm_calibration[0] = [1, nan] must hold finite numbers",
        ),
        (
            "[gemm_calibration]\ntokens_per_expert = [1, 200]\ntflops = [5, 5000]\n",
            "time per expert",
        ),
    ],
)
def test_hardware_files_obey_the_same_rules_alone_and_under_every_profile(
    tmp_path, capsys, extra, fragment
):
    folder = tmp_path / "hardware"
    folder.mkdir()
    (folder / "mine.toml").write_text(HARDWARE + extra)
    code, out, err = run(capsys, "validate", folder / "mine.toml")
    assert code == 2 and fragment in err, err
    with pytest.raises(InputError):
        validate_hardware_file(folder / "mine.toml")
    for profile in ("sustained", "datasheet", "paper"):
        text = f'model = "deepseek-v3"\nhardware = "mine"\nhardware_profile = "{profile}"\n'
        code, out, err = run(capsys, "validate", scenario(tmp_path, text + WORKLOAD))
        assert code == 2 and fragment in err, (profile, err)


def test_model_files_alone_get_their_cross_field_rules(tmp_path, capsys):
    text = (INSTANCES / "models" / "deepseek-v3.toml").read_text()
    bad = re.sub(r"experts_per_token = \d+", "experts_per_token = 999", text)
    (tmp_path / "models").mkdir()
    path = tmp_path / "models" / "mine.toml"
    path.write_text(bad)
    code, _, err = run(capsys, "validate", path)
    assert code == 2 and "experts_per_token = 999 exceeds num_routed_experts = 256" in err
    with pytest.raises(InputError, match="exceeds"):
        validate_model_file(path)
    assert validate_model_file(INSTANCES / "models" / "deepseek-v3.toml").num_routed_experts == 256


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--set", "workload.tpot_ms=30", "--set", "workload.tpot_ms=40"], "given more than once"),
        (["--arch", "afd,afd"], "afd given more than once"),
        (["--time-limit", "nan"], "--time-limit nan"),
        (["--time-limit", "inf"], "--time-limit inf"),
        (["--time-limit", "0"], "--time-limit 0"),
        (["--time-limit", "-1"], "--time-limit -1"),
        (["--set", "workload.expert_loads='zipf:layers=2,layers=3'"], "layers given more than"),
        (["--set", "workload.expert_loads='zipf:s=1e300'"], "s=1e+300 must be >= 0 and <= 100"),
        (["--set", "workload.expert_loads='zipf:tokens=1e30'"], "tokens=1e+30 must be a whole"),
        (["--set", "workload.expert_loads='zipf:layers=1000000'"], "the model's MoE layers"),
    ],
)
def test_bad_solve_options(tmp_path, capsys, argv, fragment):
    code, _, err = run(capsys, "solve", scenario(tmp_path), *argv)
    assert code == 2 and fragment in err, err
    assert_clean(err)


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("arch=ep,nodes=16,nodes=4,sequences_per_gpu=10", "nodes given more than once"),
        ("arch=ep,architecture=afd,nodes=4,sequences_per_gpu=10", "arch given more than once"),
        ("arch=ep,nodes=99999999999999999999,sequences_per_gpu=10", "nodes = 99,999,999"),
        (
            "arch=afd,attention_nodes=2,ffn_nodes=2,sequences_per_gpu=1e308",
            "= '1e308' is out of range",
        ),
        ("arch=afd,attention_nodes=2,ffn_nodes=2,sequences_per_gpu=2.5", "2.5 must be an integer"),
    ],
)
def test_bad_deployments(tmp_path, capsys, spec, fragment):
    code, _, err = run(capsys, "evaluate", scenario(tmp_path), "--deployment", spec)
    assert code == 2 and fragment in err, err
    assert_clean(err)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--ranks", "0"], "--ranks 0: must be in [1,"),
        (["--slots-per-rank", "0"], "--slots-per-rank 0: must be in [1,"),
        (["--workers", "-1"], "--workers -1: must be in [1, 256]"),
        (["--workers", "100000"], "--workers 100000"),
        (["--time-limit", "-1"], "--time-limit -1"),
        (["--replicas", "-3"], "--replicas -3"),
        (["--ranks", "100000", "--replicas", "0"], "cells; the limit is"),
    ],
)
def test_place_options_are_checked_not_swapped_for_defaults(tmp_path, capsys, argv, fragment):
    code, _, err = run(capsys, "place", scenario(tmp_path), "--loads", "zipf:layers=1", *argv)
    assert code == 2 and fragment in err, err
    assert_clean(err)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["imbalance", "--sigmas", "1e-300"], "--sigmas 1e-300: each value must be in [0.001, 1]"),
        (["imbalance", "--sigmas", "nan"], "--sigmas nan"),
        (["imbalance", "--lambdas", "inf"], "--lambdas inf"),
        (["crossover", "--vary", "hardware.hbm_gb=40:80", "--tol", "1e-300"], "halvings"),
        (["crossover", "--vary", "hardware.hbm_gb=40:80", "--tol", "nan"], "--tol nan"),
        (["crossover", "--vary", "hardware.hbm_gb=40:80", "--grid", "1000000"], "--grid 1000000"),
        (["crossover", "--vary", "hardware.hbm_gb=nan:80"], "must be finite"),
    ],
)
def test_analysis_options(tmp_path, capsys, argv, fragment):
    command, *rest = argv
    code, _, err = run(capsys, command, scenario(tmp_path), *rest)
    assert code == 2 and fragment in err, err
    assert_clean(err)


def test_validate_ok_means_solve_gets_past_input_checking(tmp_path, capsys):
    # Problems that used to appear only at solve time: expert_loads, calibration, sizes.
    for setting in (
        "workload.expert_loads='missing.csv'",
        "workload.expert_loads='zipf:layers=2,tokens=0'",
        "search.redundant_experts={min=0,max=65536}",
    ):
        code_v, _, err_v = run(capsys, "validate", scenario(tmp_path), "--set", setting)
        code_s, _, err_s = run(capsys, "solve", scenario(tmp_path), "--set", setting)
        assert code_v == code_s == 2, (setting, err_v)
        assert err_v == err_s


def test_readme_documents_every_bound_and_limit():
    text = (ROOT / "README.md").read_text()
    bounds = text.split("<!-- bounds:begin -->\n")[1].split("\n<!-- bounds:end -->")[0]
    assert bounds == bounds_markdown()
    block = text.split("<!-- limits:begin -->\n")[1].split("\n<!-- limits:end -->")[0]
    assert block == resource_markdown()
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 130 |"):
        assert code in text


# ---- resource guards -------------------------------------------------------------------------


def test_search_spaces_are_sized_before_allocation(tmp_path, capsys):
    code, _, err = run(
        capsys,
        "solve",
        scenario(tmp_path),
        "--set",
        "search.redundant_experts={min=0,max=65536}",
        "--set",
        "search.ffn_nodes={min=1,max=64}",
    )
    assert code == 2 and "would build 4,194,368 candidate layouts" in err
    assert "the limit is 1,000,000" in err
    code, _, err = run(
        capsys,
        "solve",
        scenario(tmp_path),
        "--set",
        "search.nodes=100000",
        "--set",
        "search.unit_gpus=1024",
    )
    assert code == 2 and "102,400,000 GPUs" in err


def test_sweeps_are_sized_before_validation(tmp_path, capsys):
    start = time.monotonic()
    code, _, err = run(
        capsys,
        "sweep",
        scenario(tmp_path),
        "--vary",
        "workload.tpot_ms=1:1000:1",
        "--vary",
        "hardware.hbm_gb=1:1000:1",
        "--out",
        tmp_path / "never",
    )
    assert code == 2 and "1000 x 1000 = 1,000,000 points; the limit is 100,000" in err
    assert time.monotonic() - start < 5 and not (tmp_path / "never").exists()


def test_loads_are_sized_and_bounded(tmp_path):
    model = load_instance(GOOD).model
    huge = model.__class__(**{**model.__dict__, "num_layers": 1000, "num_routed_experts": 65536})
    with pytest.raises(LoadsError, match="cells"):
        load_expert_loads("zipf", huge)
    cases = {
        "zero.csv": None,
        "long.csv": "layer,expert,tokens\n0,1," + "9" * 200_000 + "\n",
        "big.csv": "layer,expert,tokens\n0,1,1e30\n",
        "wrap.csv": "layer,expert,tokens\n0,1,9000000000000000000\n0,1,9000000000000000000\n",
        "sum.csv": "layer,expert,tokens\n0,1,1000000000000\n0,2,1000000000000\n",
    }
    messages = {}
    for name, text in cases.items():
        path = tmp_path / name
        if text is None:
            path = Path("/dev/zero")
        else:
            path.write_text(text)
        with pytest.raises(LoadsError) as err:
            load_expert_loads(str(path), model)
        messages[name] = str(err.value)
    assert "not a regular file" in messages["zero.csv"]
    assert "longer than 8,192 characters" in messages["long.csv"]
    assert "out of range" in messages["big.csv"] and "9000" not in messages["big.csv"]
    assert "out of range" in messages["wrap.csv"]
    assert "totals 2,000,000,000,000 tokens" in messages["sum.csv"]


def test_loads_file_size_is_capped(tmp_path, monkeypatch):
    path = tmp_path / "loads.csv"
    path.write_text("layer,expert,tokens\n" + "0,1,5\n" * 1000)
    monkeypatch.setattr(limits, "MAX_LOADS_FILE_BYTES", 1000)
    with pytest.raises(LoadsError, match="at most 1,000 bytes"):
        load_expert_loads(str(path), load_instance(GOOD).model)


# ---- exit codes ------------------------------------------------------------------------------


def test_exit_codes(tmp_path, capsys, monkeypatch):
    path = scenario(tmp_path)
    assert run(capsys, "solve", path)[0] == 0
    code, out, _ = run(capsys, "solve", path, "--set", "search.ffn_nodes=1", "--arch", "afd")
    assert code == 1 and "infeasible" in out  # no architecture produced a deployment
    code, out, _ = run(capsys, "solve", path, "--set", "search.ffn_nodes=1")
    assert code == 0  # EP answers; the infeasible AFD row is part of the answer

    import solver.analysis.sweep as sweep

    real = sweep.solve_point

    def flaky(instance_path, overrides):
        if overrides.get("workload.tpot_ms") == 50:
            raise RuntimeError("this point breaks")
        return real(instance_path, overrides)

    monkeypatch.setattr(sweep, "solve_point", flaky)
    code, _, err = run(capsys, "sweep", path, *SWEEP, "--out", tmp_path / "flaky")
    assert code == 1 and "1 of 2 points failed" in err and "this point breaks" in err


def test_verdict_words_tell_infeasible_from_time_limited():
    rows = [
        {"architecture": "afd", "status": "optimal"},
        {"architecture": "ep", "status": "time_limit"},
    ]
    assert exit_codes.verdict_note(rows) == " (EP time limit, no deployment found)"
    assert exit_codes.verdict_note([{"architecture": "ep", "status": "infeasible"}]) == (
        " (EP infeasible)"
    )
    assert exit_codes.solve_exit_code(rows) == 0
    assert exit_codes.solve_exit_code(rows[1:]) == 1
    both = [{"architecture": "afd", "status": "infeasible"}, rows[1]]
    assert exit_codes.no_deployment_verdict(both) == (
        "verdict: no deployment: AFD infeasible; EP time limit, no deployment found"
    )
    assert exit_codes.sweep_exit_code(0) == 0 and exit_codes.sweep_exit_code(3) == 1


def test_a_missing_cbc_is_one_error_line(tmp_path, capsys, monkeypatch):
    """Without the cbcbox package, `--backend cbc` says what to install (exit 2), no traceback."""
    import sys

    from solver.backends import cbc_backend

    cbc_backend._stop()  # a worker started by an earlier test would hide the missing library
    monkeypatch.setitem(sys.modules, "cbcbox", None)  # `import cbcbox` now raises ImportError
    code, _, err = run(capsys, "solve", scenario(tmp_path), "--backend", "cbc", "--arch", "ep")
    assert code == 2
    assert_clean(err, lines=1)
    assert "pip install 'pulp[cbc]'" in err
