"""Bad input: one clear line per problem naming the file and field, exit code 2, no traceback."""

from __future__ import annotations

import shutil

import pytest
from conftest import INSTANCES

from solver.cli import main
from solver.errors import InputError
from solver.io.loader import load_instance

GOOD = INSTANCES / "deepseek-v3-h800.toml"


def _write(tmp_path, text, name="scenario.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _scenario(**sections):
    workload = sections.get("workload", "tpot_ms = 50\ncontext_tokens = 4096")
    head = sections.get("head", 'model = "deepseek-v3"\nhardware = "h800"')
    search = sections.get("search", "")
    return f"{head}\n[workload]\n{workload}\n[search]\n{search}\n"


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_shipped_instances_validate(capsys):
    for path in sorted(INSTANCES.glob("*.toml")):
        code, out, err = _run(capsys, "validate", str(path))
        assert code == 0, err
        assert out.startswith("ok:")


@pytest.mark.parametrize("kind", ["models", "hardware"])
def test_shipped_model_and_hardware_files_validate(capsys, kind):
    for path in sorted((INSTANCES / kind).glob("*.toml")):
        code, _, err = _run(capsys, "validate", str(path))
        assert code == 0, (path, err)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("model = \n", "malformed TOML"),
        (
            _scenario(workload="tpot_ms = -5\ncontext_tokens = 4096"),
            "workload.tpot_ms = -5 is out of range: must be > 0",
        ),
        (
            _scenario(workload='tpot_ms = "fast"\ncontext_tokens = 4096'),
            "workload.tpot_ms = 'fast' must be a number",
        ),
        (_scenario(workload="tpot_ms = 50"), "workload.context_tokens: missing required field"),
        (
            _scenario(workload="tpot_ms = 50\ncontext_tokens = 4096\ntpot = 3"),
            "workload.tpot: unknown field",
        ),
        (
            _scenario(head='model = "deepseek-v9"\nhardware = "h800"'),
            "model = 'deepseek-v9': unknown model; known:",
        ),
        (
            _scenario(head='model = "deepseek-v3"\nhardware = "h900"'),
            "hardware = 'h900': unknown hardware",
        ),
        (
            _scenario(head='model = "deepseek-v3"\nhardware = "h800"\nhardware_profile = "fast"'),
            "hardware_profile = 'fast'",
        ),
        (
            _scenario(search="ffn_nodes = { min = 4, max = 2 }"),
            "search.ffn_nodes: min 4 is above max 2",
        ),
        (_scenario(search="afd_micro_batches = 2"), "AFD needs >= 3 micro-batches"),
        (_scenario(search='objective = "total_tokens"'), "search.max_gpus: required"),
        (_scenario(search='objective = "min_gpus"'), "workload.demand_tokens_per_s: required"),
        (_scenario(search="unit_gpus = 0"), "search.unit_gpus = 0 is out of range: must be >= 1"),
        (_scenario(search='backend = "gurobi"'), "search.backend = 'gurobi' is out of range"),
        (_scenario(search="attention_nodes = { min = 1, top = 3 }"), "unknown key(s) ['top']"),
        (_scenario(head='model = "models/nope.toml"\nhardware = "h800"'), "no file"),
    ],
)
def test_bad_scenarios_name_file_field_and_range(tmp_path, capsys, text, expected):
    path = _write(tmp_path, text)
    code, out, err = _run(capsys, "solve", str(path))
    assert code == 2
    assert expected in err, err
    assert str(path) in err
    assert "Traceback" not in err and out == ""


def test_every_problem_is_reported_at_once(tmp_path):
    path = _write(
        tmp_path,
        _scenario(workload="tpot_ms = -1\ncontext_tokens = 0\nbogus = 1", search="ffn_nodes = 0"),
    )
    with pytest.raises(InputError) as err:
        load_instance(path)
    text = str(err.value)
    for piece in ("tpot_ms", "context_tokens", "bogus", "ffn_nodes"):
        assert piece in text


def test_bad_model_file_is_named(tmp_path, capsys):
    shutil.copytree(INSTANCES / "hardware", tmp_path / "hardware")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "mine.toml").write_text(
        "num_layers = 4\nnum_dense_layers = 0\nhidden_size = 1024\nnum_routed_experts = 8\n"
        "experts_per_token = 12\nnum_shared_experts = 0\nmoe_intermediate_size = 512\n"
        'vocab_size = 1000\nattention = "gqa"\nnum_attention_heads = 8\nhead_dim = 64\n'
    )
    path = _write(tmp_path, _scenario(head='model = "mine"\nhardware = "h800"'))
    code, _, err = _run(capsys, "solve", str(path))
    assert code == 2
    assert "mine.toml" in err
    assert "experts_per_token = 12 exceeds num_routed_experts = 8" in err
    assert "num_kv_heads: missing, required by attention = 'gqa'" in err


def test_inline_model_and_relative_path(tmp_path):
    shutil.copy(INSTANCES / "models" / "deepseek-v3.toml", tmp_path / "dsv3.toml")
    text = _scenario(head='model = "dsv3.toml"\nhardware = "h800"')
    inst = load_instance(_write(tmp_path, text))
    assert inst.model.num_routed_experts == 256
    text = (
        'hardware = "h800"\n[model]\nnum_layers = 4\nnum_dense_layers = 0\nhidden_size = 1024\n'
        "num_routed_experts = 8\nexperts_per_token = 2\nnum_shared_experts = 0\n"
        'moe_intermediate_size = 512\nvocab_size = 1000\nattention = "mha"\n'
        "num_attention_heads = 8\nhead_dim = 64\n[workload]\ntpot_ms = 50\ncontext_tokens = 1024\n"
    )
    assert load_instance(_write(tmp_path, text, "inline.toml")).model.hidden_size == 1024


def test_set_overrides_and_bad_set(capsys):
    inst = load_instance(
        GOOD,
        {
            "workload.tpot_ms": 30,
            "hardware.scaleout_gbps": 100,
            "model.moe_intermediate_size": 4096,
            "search.ffn_nodes": 8,
        },
    )
    assert inst.workload.tpot_ms == 30
    assert inst.hardware.scaleout_gbps == 100
    assert inst.model.moe_intermediate_size == 4096
    assert inst.search.ffn_nodes.lo == inst.search.ffn_nodes.hi == 8
    code, _, err = _run(capsys, "solve", str(GOOD), "--set", "workload.tpot_ms")
    assert code == 2 and "expected dotted.key=value" in err
    code, _, err = _run(capsys, "solve", str(GOOD), "--set", "hardware.warp=9")
    assert code == 2 and "hardware.warp: unknown field" in err


def test_profiles_change_the_hardware():
    paper = load_instance(GOOD).hardware
    sustained = load_instance(GOOD, {"hardware_profile": "sustained"}).hardware
    datasheet = load_instance(GOOD, {"hardware_profile": "datasheet"}).hardware
    assert paper.scaleup_gbps == 160 and paper.scaleup_efficiency == 1.0
    assert datasheet.scaleup_gbps == 200 and datasheet.ffn_efficiency == 1.0
    assert sustained.scaleup_gbps == 200 and sustained.scaleup_efficiency < 1.0


def test_missing_file_is_a_clear_error(capsys):
    code, _, err = _run(capsys, "solve", "no/such/file.toml")
    assert code == 2 and "file not found" in err


def test_bad_deployment_spec(capsys):
    code, _, err = _run(capsys, "evaluate", str(GOOD), "--deployment", "arch=afd,ffn_nodes=x")
    assert code == 2
    assert "ffn_nodes = 'x' must be an integer" in err
    assert "attention_nodes: missing" in err
