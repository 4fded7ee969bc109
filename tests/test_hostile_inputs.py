"""Hostile input, second round (issue 17): numbers of any size through one conversion, from
every place a number enters (files, --set, options, fleet files, CSV cells, the API)."""

from __future__ import annotations

import time

import pytest
from cli_helpers import GOOD, assert_clean, run, scenario
from conftest import INSTANCES

import solver
from solver.errors import InputError
from solver.io import numbers

HUGE = "9" * 4301  # one digit more than Python turns into an int
BIG = "1" + "0" * 309  # above the largest float


@pytest.mark.parametrize(
    "value, integer, fragment",
    [
        (10**5000, False, "<integer of 4,300 or more digits> is out of range"),
        (10**400, False, "<integer of 401 digits> is out of range"),
        (-(10**60), True, "-<integer of 61 digits> is out of range"),
        (True, True, "True must be an integer"),
        (False, False, "False must be a number"),
        ("5", False, "'5' must be a number"),
        (float("nan"), False, "nan must be finite"),
        (float("-inf"), False, "-inf must be finite"),
        (2.5, True, "2.5 must be an integer"),
        (None, False, "None must be a number"),
    ],
    ids=lambda v: numbers.show(v),
)
def test_one_conversion_refuses_what_is_not_a_finite_number_in_range(value, integer, fragment):
    got, problem = numbers.convert(value, "f", integer=integer, bounds=numbers.Bounds(gt=0, le=9))
    assert got is None and problem is not None and fragment in problem, problem


def test_text_numbers_of_any_length_are_judged_not_converted():
    bounds = numbers.Bounds(ge=1, le=64)
    assert numbers.parse("8", "k", integer=True, bounds=bounds) == (8, None)
    assert numbers.parse(" 2.5 ", "k", bounds=bounds) == (2.5, None)
    for text, fragment in [
        ("9" * 100_000, "<integer of 100,000 digits> is out of range: must be >= 1 and <= 64"),
        ("1e400", "k = 1e400 is out of range"),
        ("nan", "nan must be finite"),
        ("lots", "'lots' must be a number"),
        ("1" * 70 + ".5", "must be a number"),
    ]:
        got, problem = numbers.parse(text, "k", bounds=bounds)
        assert got is None and fragment in str(problem), problem


@pytest.mark.parametrize("literal", [HUGE, "-" + HUGE, BIG, "1_" + "0" * 5000])
def test_integers_of_any_size_in_an_instance_file_name_the_field(tmp_path, capsys, literal):
    text = GOOD.read_text().replace("tpot_ms = 50", f"tpot_ms = {literal}")
    path = scenario(tmp_path, text)
    code, _, err = run(capsys, "validate", path)
    assert code == 2
    assert_clean(err, lines=1)
    assert f"{path}: workload.tpot_ms = " in err and "is out of range: must be > 0" in err


@pytest.mark.parametrize("value", [HUGE, BIG, "{min=1,max=" + HUGE + "}"])
def test_integers_of_any_size_through_set(tmp_path, capsys, value):
    code, _, err = run(capsys, "validate", GOOD, "--set", f"search.nodes={value}")
    assert code == 2
    assert_clean(err, lines=1)
    assert "search.nodes" in err and "out of range" in err


def test_integers_of_any_size_in_model_hardware_and_fleet_files(tmp_path, capsys):
    (tmp_path / "models").mkdir()
    (tmp_path / "hardware").mkdir()
    model = (INSTANCES / "models" / "deepseek-v3.toml").read_text()
    (tmp_path / "models" / "m.toml").write_text(
        model.replace("hidden_size = 7168", f"hidden_size = {HUGE}")
    )
    hardware = (INSTANCES / "hardware" / "h800.toml").read_text()
    (tmp_path / "hardware" / "h.toml").write_text(
        hardware.replace("hbm_gb = 80", f"hbm_gb = {BIG}")
        + f"[gemm_calibration]\ntokens_per_expert = [{BIG}, 2]\ntflops = [5, 5]\n"
    )
    for path, fragment in [
        (tmp_path / "models" / "m.toml", "hidden_size = <integer of 4,300 or more digits>"),
        (tmp_path / "hardware" / "h.toml", "hbm_gb = <integer of 310 digits> is out of range"),
    ]:
        code, _, err = run(capsys, "validate", path)
        assert code == 2 and fragment in err, err
        assert_clean(err)
    code, _, err = run(capsys, "validate", tmp_path / "hardware" / "h.toml")
    assert "gemm_calibration[0]" in err and "must hold finite numbers" in err
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(
        f'[[workload]]\nname = "w"\nmodel = "deepseek-v3"\ndemand_tokens_per_s = {HUGE}\n'
        "tpot_ms = 50\ncontext_tokens = 4096\n"
        f'[[hardware]]\nname = "h800"\nprice_per_gpu_hour = {BIG}\ninventory_gpus = -{HUGE}\n'
    )
    code, _, err = run(capsys, "size", fleet)
    assert code == 2
    assert_clean(err)
    for fragment in (
        "workload[0].demand_tokens_per_s = <integer of 4,300 or more digits> is out of range",
        "hardware[0].price_per_gpu_hour = <integer of 310 digits> is out of range",
        "hardware[0].inventory_gpus = -<integer of 4,300 or more digits> is out of range",
    ):
        assert fragment in err, err


def test_calibration_cells_and_tables_of_any_size(tmp_path, capsys):
    csv = tmp_path / "m.csv"
    csv.write_text(
        "kind,tier,ranks,tokens,hidden,bytes_per_element,time_us\n"
        f"dispatch,scale_up,8,8,7168,1,{HUGE}\ndispatch,scale_up,{HUGE},8,7168,1,20\n"
    )
    code, _, err = run(capsys, "calibrate", csv, "--hardware", "h800")
    assert code == 2
    assert_clean(err)
    assert f"{csv}:2: time_us = <integer of 4,301 digits> is out of range" in err
    assert f"{csv}:3: ranks = <integer of 4,301 digits> is out of range" in err
    hardware = (INSTANCES / "hardware" / "h800.toml").read_text()
    (tmp_path / "hardware").mkdir()
    path = tmp_path / "hardware" / "cal.toml"
    path.write_text(
        hardware + "\n[calibration]\nparameters = ['efficiency.ffn']\n"
        f"covariance = [[{BIG}]]\nrows = {HUGE}\nresidual_rms = {BIG}\n"
    )
    code, _, err = run(capsys, "validate", path)
    assert code == 2
    assert_clean(err)
    assert "calibration.rows = <integer of 4,300 or more digits> must be an integer" in err
    assert "calibration.covariance: every entry must be a finite number" in err


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"workload.tpot_ms": 10**5000}, "workload.tpot_ms = <integer of 4,300 or more digits>"),
        ({"hardware.gemm_calibration": [[10**400, 1]]}, "must hold finite numbers"),
        ({"search.nodes": {"min": 1, "max": 10**400}}, "max <integer of 401 digits> is out"),
        ({"workload.tpot_ms": True}, "workload.tpot_ms = True must be a number"),
    ],
    ids=["huge", "gemm", "range", "bool"],
)
def test_api_overrides_of_any_size(overrides, fragment):
    with pytest.raises(InputError, match="out of range|must") as err:
        solver.solve(GOOD, overrides=overrides)
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    "spec, fragment",
    [
        (f"arch=ep,nodes={HUGE},sequences_per_gpu=8", "nodes = <integer of 4,301 digits>"),
        ("arch=ep,nodes=4,sequences_per_gpu=1e400", "sequences_per_gpu = 1e400 is out"),
        ({"arch": "ep", "nodes": 4.5, "sequences_per_gpu": 8}, "nodes = 4.5 must be an integer"),
        ({"arch": "ep", "nodes": True, "sequences_per_gpu": 8}, "nodes = True must be an integer"),
        ({"arch": "ep", "nodes": 10**5000, "sequences_per_gpu": 8}, "4,300 or more digits"),
    ],
    ids=["text", "float-text", "float", "bool", "huge"],
)
def test_deployment_counts_of_any_size(spec, fragment):
    with pytest.raises(InputError) as err:
        solver.evaluate(GOOD, spec)
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["sweep", GOOD, "--vary", f"workload.tpot_ms={HUGE}"], "4,300 or more digits"),
        (["crossover", GOOD, "--vary", f"hardware.hbm_gb=1:{HUGE}"], "finite numbers"),
        (["pareto", GOOD, "--tpot", f"1:{HUGE}"], "expected LO:HI"),
        (["imbalance", GOOD, "--lambdas", HUGE], "each value must be in [1e-06, 1e+06]"),
        (["place", GOOD, "--loads", "zipf:s=1e400"], "s = 1e400 is out of range"),
        (["place", GOOD, "--loads", "zipf:layers=" + "9" * 150], "<integer of 150 digits>"),
        (["solve", GOOD, "--set", "workload.tpot_ms=30\nsearch.nodes=2"], "spans several lines"),
    ],
)
def test_numbers_in_options_of_any_size(tmp_path, capsys, argv, fragment):
    code, _, err = run(capsys, *argv, *(["--out", tmp_path / "o"] if argv[0] == "sweep" else []))
    assert code == 2 and fragment in err, err
    assert_clean(err)


# ---- answers that cannot be (physical cross-checks) ------------------------------------------


@pytest.mark.parametrize(
    "settings, fragment",
    [
        (["workload.mtp_acceptance=64"], "mtp_acceptance = 64 accepts more tokens per step"),
        (["workload.mtp_acceptance=2.5", "workload.tokens_per_step=2"], "at most 2 (1 + 1 draft"),
        (["workload.mtp_acceptance=3", "model.mtp_layers=1"], "model.mtp_layers = 1"),
    ],
)
def test_accepted_tokens_beyond_what_a_step_verifies_are_refused(capsys, settings, fragment):
    argv = [x for s in settings for x in ("--set", s)]
    code, _, err = run(capsys, "solve", GOOD, *argv)
    assert code == 2 and fragment in err, err
    assert_clean(err)
    inst = solver.api.as_instance(GOOD)
    import dataclasses

    bad = inst.replace(workload=dataclasses.replace(inst.workload, mtp_acceptance=64.0))
    with pytest.raises(InputError, match="accepts more tokens per step"):
        solver.solve(bad)


def test_the_papers_acceptance_with_one_computed_token_still_holds(capsys):
    # q = 1 with 1.7 accepted tokens (one MTP module), and 3 accepted with q = 3 drafts counted.
    assert run(capsys, "validate", GOOD)[0] == 0
    code, _, err = run(
        capsys,
        "validate",
        GOOD,
        "--set",
        "workload.mtp_acceptance=3",
        "--set",
        "workload.tokens_per_step=3",
    )
    assert code == 0, err


def test_prices_below_the_counted_precision_are_refused(tmp_path, capsys):
    fleet = tmp_path / "fleet.toml"
    text = (
        '[[workload]]\nname = "w"\nmodel = "deepseek-v3"\ndemand_tokens_per_s = 100000\n'
        'tpot_ms = 50\ncontext_tokens = 4096\n[[hardware]]\nname = "h800"\n'
    )
    fleet.write_text(text + "price_per_gpu_hour = 0.00001\n")
    code, _, err = run(capsys, "size", fleet)
    assert code == 2
    assert "price_per_gpu_hour = 1e-05 is out of range: must be >= 0.0001" in err
    from solver.io.fleet import load_fleet

    fleet.write_text(text + "price_per_gpu_hour = 0.0001\n")
    assert load_fleet(fleet).hardware[0].price_per_gpu_hour == 0.0001


def _deployment(**changes):
    from formulations.types import Deployment

    base = dict(
        architecture="afd",
        sequences_per_gpu=369,
        micro_batches=3,
        redundant=0,
        nodes=(("attention", 3), ("ffn", 2)),
    )
    return Deployment(**{**base, **changes})


def test_deployment_objects_are_checked_like_deployment_strings():
    same = solver.evaluate(GOOD, _deployment())
    text = solver.evaluate(GOOD, "arch=afd,attention_nodes=3,ffn_nodes=2,sequences_per_gpu=369")
    cols = ["status", "tokens_per_s_per_gpu", "tpot_ms", "gpus"]
    assert same[cols].to_dict() == text[cols].to_dict()
    for changes, fragment in [
        ({"nodes": (("attention", -3), ("ffn", 2))}, "attention_nodes = -3 is out of range"),
        ({"micro_batches": 1}, "micro_batches must be >= 3 for AFD"),
        ({"nodes": (("ep", 4),)}, "AFD needs (('attention', units), ('ffn', units),)"),
        ({"nodes": (("ffn", 2), ("attention", 3))}, "AFD needs"),
        ({"architecture": "dp"}, "deployment.architecture = 'dp': one of afd, ep, tp"),
        ({"architecture": "tp"}, "TP needs (('tp', units),)"),
        ({"sequences_per_gpu": 2.5}, "sequences_per_gpu = 2.5 must be an integer"),
        ({"sequences_per_gpu": True}, "sequences_per_gpu = True must be an integer"),
        ({"redundant": -1}, "redundant_experts = -1 is out of range"),
        ({"unit_gpus": 4}, "deployment.unit_gpus = 4: the instance's search.unit_gpus is 8"),
        ({"nodes": (("attention", 10**6), ("ffn", 2))}, "attention_nodes = 1000000 is out"),
    ]:
        with pytest.raises(InputError) as err:
            solver.evaluate(GOOD, _deployment(**changes))
        assert fragment in str(err.value), (changes, str(err.value))


# ---- the Python API checks what it is given ---------------------------------------------------


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: solver.solve(None), "path_or_instance None: must be an instance file path"),
        (lambda: solver.solve(GOOD, overrides="x"), "overrides 'x': must be a dict"),
        (lambda: solver.solve(GOOD, overrides={1: 2}), "overrides key 1: expected a dotted"),
        (lambda: solver.solve(GOOD, time_limit_s="5"), "time_limit_s '5': must be a number"),
        (lambda: solver.solve(GOOD, time_limit_s=10**400), "must be a number of seconds"),
        (lambda: solver.solve(GOOD, workers="2"), "workers '2': must be in [1, 256]"),
        (lambda: solver.solve(GOOD, progress=5), "progress 5: must be a function"),
        (lambda: solver.solve(GOOD, architectures="ep"), "architectures 'ep': a list of names"),
        (lambda: solver.solve(GOOD, architectures=["ep", "ep"]), "ep given more than once"),
        (lambda: solver.solve(GOOD, backend="nope"), "backend 'nope': choose from highs"),
        (lambda: solver.solve(GOOD, breakdown="yes"), "breakdown 'yes': must be True or False"),
        (lambda: solver.solve(GOOD, scheduler="garbage"), "scheduler 'garbage': expected tcp"),
        (lambda: solver.solve_many(str(GOOD)), "must be a non-empty list of instance file"),
        (lambda: solver.solve_many([]), "paths []: must be a non-empty list"),
        (lambda: solver.solve_many([GOOD, None]), "paths[1] None: must be an instance file"),
        (lambda: solver.pareto(GOOD, 10), "--tpot 10: expected LO:HI"),
        (lambda: solver.pareto(GOOD, [10, 200, 300]), "expected LO:HI"),
        (lambda: solver.pareto(GOOD, time_limit_s=float("inf")), "must be a number of seconds"),
        (lambda: solver.evaluate(GOOD, None), "deployment = None: give a spec"),
        (lambda: solver.evaluate(GOOD, 5), "deployment = 5: give a spec"),
        (lambda: solver.size(INSTANCES / "fleets" / "mixed.toml", backend="nope"), "'nope'"),
        (lambda: solver.size(INSTANCES / "fleets" / "mixed.toml", workers=0), "workers 0"),
        (lambda: solver.size(None), "fleet None: must be a fleet file path"),
        (lambda: solver.uncertainty(GOOD, 4, architectures="ep"), "architectures 'ep'"),
        (lambda: solver.calibrate(None, "h800"), "measurements must be a path"),
    ],
)
def test_every_public_function_checks_its_arguments(call, fragment):
    with pytest.raises(InputError) as err:
        call()
    assert fragment in str(err.value), str(err.value)


def test_the_api_takes_what_its_hints_say():
    front = solver.pareto(GOOD, [40, 60], architectures=("ep",), time_limit_s=60)
    assert set(front["architecture"]) == {"ep"}
    assert front.equals(solver.pareto(GOOD, "40:60", architectures=["ep"]))
    assert len(solver.solve_many((GOOD,), architectures=("ep",), workers=1)) == 1


# ---- every option checked the same way in every command ----------------------------------------


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["size", INSTANCES / "fleets" / "mixed.toml", "--time-limit", "-1"], "--time-limit -1"),
        (["size", INSTANCES / "fleets" / "mixed.toml", "--time-limit", "0"], "--time-limit 0"),
        (["size", INSTANCES / "fleets" / "mixed.toml", "--time-limit", "nan"], "--time-limit nan"),
        (["size", INSTANCES / "fleets" / "mixed.toml", "--workers", "10000"], "--workers 10000"),
        (["pareto", GOOD, "--time-limit", "nan"], "--time-limit nan"),
        (["pareto", GOOD, "--time-limit", "inf"], "--time-limit inf"),
        (["pareto", GOOD, "--arch", "ep,ep"], "ep given more than once"),
        (["sweep", GOOD, "--vary", "workload.tpot_ms=40,50", "--workers", "0"], "--workers 0"),
        (["place", GOOD, "--loads", "zipf:layers=1", "--time-limit", "nan"], "--time-limit nan"),
        (["launch", GOOD, "--engine", "manifest", "--time-limit", "-1"], "--time-limit -1"),
        (["solve", GOOD, GOOD, "--scheduler", "garbage"], "--scheduler 'garbage': expected"),
        (["sweep", GOOD, "--vary", "workload.tpot_ms=40,50", "--scheduler", "x y"], "--scheduler"),
        (["size", INSTANCES / "fleets" / "mixed.toml", "--scheduler", "nope"], "--scheduler"),
    ],
)
def test_options_are_checked_alike_in_every_command(tmp_path, capsys, argv, fragment):
    start = time.monotonic()
    code, _, err = run(capsys, *argv, *(["--out", tmp_path / "o"] if argv[0] == "sweep" else []))
    assert code == 2 and fragment in err, err
    assert_clean(err, lines=1)
    assert time.monotonic() - start < 5  # refused before any work (no 20 s Dask stall)
    assert "Exception ignored" not in err


def test_a_byte_order_mark_starts_a_csv_like_any_other(tmp_path, capsys):
    loads = tmp_path / "loads.csv"
    loads.write_bytes(b"\xef\xbb\xbflayer,expert,tokens\n0,0,100\n0,5,40\n")
    code, out, err = run(capsys, "place", GOOD, "--loads", loads, "--workers", "1")
    assert code == 0, err
    measurements = tmp_path / "m.csv"
    measurements.write_bytes(
        b"\xef\xbb\xbfkind,tier,ranks,tokens,hidden,bytes_per_element,time_us\n"
        b"dispatch,scale_up,8,8,7168,1,20\ndispatch,scale_up,8,16,7168,1,30\n"
    )
    code, _, err = run(capsys, "calibrate", measurements, "--hardware", "h800", "--no-loo")
    assert code == 0, err


def test_an_unreadable_models_folder_is_reported_as_unreadable(tmp_path, capsys, monkeypatch):
    import os as real_os

    from solver.io import references

    (tmp_path / "models").mkdir()
    text = GOOD.read_text().replace('model = "deepseek-v3"', 'model = "mine"')
    path = scenario(tmp_path, text)
    real_scandir = real_os.scandir

    def scandir(folder):
        if str(folder) == str(tmp_path / "models"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(folder)

    monkeypatch.setattr(references.os, "scandir", scandir)
    code, _, err = run(capsys, "validate", path)
    assert code == 2 and "unknown model" not in err
    assert f"model = 'mine': cannot read {tmp_path / 'models'} (Permission denied)" in err


def test_readme_fleet_demand_bound_is_the_checks():
    from conftest import ROOT

    from solver.io.fleet import DEMAND_MAX

    text = (ROOT / "README.md").read_text()
    assert f"demands at most {DEMAND_MAX:g} tokens/s" in text
    assert DEMAND_MAX == 1e10
