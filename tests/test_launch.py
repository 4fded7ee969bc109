"""Issue 16: launch configurations follow the deployment, use only pinned flags, the manifest
validates against its schema, and expert maps round-trip."""

from __future__ import annotations

import functools
import json
import shlex

import numpy as np
import pytest
from cli_helpers import assert_clean, run, scenario
from conftest import INSTANCES

from formulations.types import ARCHITECTURES
from solver import report
from solver.api import as_instance, solve
from solver.launch import engines, expert_map, flags, manifest
from solver.launch import run as launch_run

SCENARIOS = (
    "deepseek-v3-h800",
    "kimi-k2-h20",
    "qwen3-235b-a22b-h200",  # TP4 on one node
    "qwen3-235b-a22b-h200-one-node",  # TP8 wins
    "deepseek-v3-gb200-nvl72",  # TP8 over two 4-GPU trays
)


@functools.cache
def handovers(name: str) -> dict[str, launch_run.Handover]:
    """Every engine's hand-over of every architecture's optimum of a shipped scenario."""
    inst = as_instance(INSTANCES / f"{name}.toml")
    out = {}
    for row in report.records(solve(inst, architectures=list(ARCHITECTURES))):
        if row["status"] not in ("optimal", "feasible"):
            continue
        branch, d = launch_run.deployment_of_row(row, inst)
        for engine in launch_run.CHOICES:
            out[f"{row['architecture']}:{engine}"] = launch_run.handover(
                engine, branch, d, row, loads=None, command="test"
            )
    return out


def _values(argv: tuple[str, ...]) -> dict[str, str]:
    """`--flag value` pairs of a command (a flag without a value maps to '')."""
    out = {}
    for i, a in enumerate(argv):
        if a.startswith("--"):
            nxt = argv[i + 1] if i + 1 < len(argv) else ""
            out[a] = "" if nxt.startswith("--") else nxt
    return out


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_generated_flag_is_pinned_and_values_follow_the_deployment(name):
    for key, h in handovers(name).items():
        arch, engine = key.split(":")
        row = h.row
        if arch == "afd" or engine == "manifest":
            assert h.launch is None
            assert manifest.validate(h.manifest) == []
            if engine != "manifest":
                assert "does not run AFD" in (h.reason or "")
            continue
        assert h.launch is not None, h.reason
        if arch == "tp":
            _check_tp(h, engine)
            continue
        plan = h.plan
        gpus, n = row["gpus"], row["sequences_per_gpu"]
        g = plan.slots_per_rank
        assert plan.engine_redundant == g * gpus - plan.inst.model.num_routed_experts
        assert plan.engine_redundant >= row["redundant_experts"]
        assert plan.graph_batch == row["micro_batches"] * row["micro_batch_size"] >= n
        for role in h.launch.roles:
            # Parse the rendered command back, as a shell would.
            argv = tuple(shlex.split(role.command().replace("$", "")))
            assert flags.unknown(engine, list(role.argv), h.launch.config) == [], key
            v = _values(argv)
            if engine == "sglang":
                assert v["--tp-size"] == v["--attn-dp-size"] == v["--ep-size"] == str(gpus)
                assert int(v["--max-running-requests"]) == n * gpus
                assert int(v["--cuda-graph-max-bs-decode"]) == plan.graph_batch
                assert v.get("--nnodes", "1") == str(plan.serving.nodes)
                assert ("--enable-two-batch-overlap" in v) == (row["micro_batches"] == 2)
                if plan.engine_redundant:
                    assert int(v["--ep-num-redundant-experts"]) == plan.engine_redundant
                assert 0 < float(v["--mem-fraction-static"]) <= 0.9 + 1e-3
            elif engine == "vllm":
                assert int(v["--data-parallel-size"]) == gpus
                assert v["--tensor-parallel-size"] == "1" and "--enable-expert-parallel" in v
                assert int(v["--max-num-seqs"]) == n
                assert ("--enable-dbo" in v) == (row["micro_batches"] == 2)
                if plan.engine_redundant:
                    eplb = json.loads(v["--eplb-config"])
                    assert eplb["num_redundant_experts"] == plan.engine_redundant
            else:
                assert v["--tp_size"] == v["--ep_size"] == str(gpus)
                config = h.launch.config or {}
                assert config["max_batch_size"] == n and config["enable_attention_dp"]
                assert config["cuda_graph_config"]["max_batch_size"] == plan.graph_batch
                if plan.engine_redundant:
                    balancer = config["moe_config"]["load_balancer"]
                    assert balancer["num_slots"] == g * gpus
        assert manifest.validate(h.manifest) == []


def _check_tp(h: launch_run.Handover, engine: str) -> None:
    """A TP group is one server of t GPUs holding n sequences, copied for every group; no
    data-parallel attention, no expert parallelism, no expert map (docs/model.md §20)."""
    assert h.launch is not None
    row, plan = h.row, h.plan
    t, r, n = row["tensor_parallel"], row["tp_groups"], row["sequences_per_gpu"]
    per_node = plan.serving.gpus_per_node
    span = -(-t // per_node)  # nodes one group spans
    assert plan.group_gpus == t and plan.groups == r and plan.engine_redundant == 0
    assert sum(role.nodes for role in h.launch.roles) == r * span
    for role in h.launch.roles:
        assert flags.unknown(engine, list(role.argv), h.launch.config) == []
        v = _values(tuple(shlex.split(role.command().replace("$", ""))))
        assert not {"--ep-size", "--attn-dp-size", "--data-parallel-size", "--ep_size"} & set(v)
        nodes = v.get("--nnodes", "1") if engine != "trtllm" else role.prefix[1]
        assert nodes in (str(span), f"--nodes={span}")
        if engine == "sglang":
            assert v["--tp-size"] == str(t) and int(v["--max-running-requests"]) == n
            assert int(v["--cuda-graph-max-bs-decode"]) == plan.graph_batch
        elif engine == "vllm":
            assert v["--tensor-parallel-size"] == str(t) and int(v["--max-num-seqs"]) == n
        else:
            assert v["--tp_size"] == str(t) and f"--ntasks={t}" in role.prefix
            config = h.launch.config or {}
            assert config["max_batch_size"] == n and not config["enable_attention_dp"]
    doc = h.manifest
    assert manifest.validate(doc) == []
    assert doc["experts"]["placement"] == "sliced"
    assert doc["experts"]["ranks"] == r * t
    assert doc["experts"]["slots_per_rank"] == plan.inst.model.num_routed_experts


def test_tp_is_handed_over_on_one_and_on_two_trays():
    """Both TP shapes the shipped scenarios give: t = 8 on one 8-GPU node, and t = 8 over two
    4-GPU GB200 trays (one role per node rank with --nnodes 2)."""
    one = handovers("qwen3-235b-a22b-h200-one-node")["tp:sglang"]
    two = handovers("deepseek-v3-gb200-nvl72")["tp:sglang"]
    assert "--nnodes" not in one.launch.roles[0].argv  # type: ignore[union-attr]
    assert "--nnodes" in two.launch.roles[0].argv  # type: ignore[union-attr]
    assert two.plan.serving.gpus_per_node == 4 and two.plan.group_gpus == 8


def test_a_flag_outside_the_pinned_list_fails():
    h = handovers("deepseek-v3-h800")["ep:sglang"]
    assert h.launch is not None
    argv = [*h.launch.roles[0].argv, "--enable-dp-attention-typo"]
    assert flags.unknown("sglang", argv) == ["--enable-dp-attention-typo"]
    trt = handovers("deepseek-v3-h800")["ep:trtllm"].launch
    assert trt is not None and trt.config is not None
    broken = {**trt.config, "moe_config": {**trt.config["moe_config"], "bakend": "WIDEEP"}}
    assert flags.unknown("trtllm", list(trt.roles[0].argv), broken) == ["config:moe_config.bakend"]


def test_fact_files_name_version_and_source():
    for engine in engines.ENGINES:
        pinned = flags.flag_list(engine)
        assert pinned.version in flags.ENGINE_VERSIONS.values()
        assert "Source" in pinned.source or "read from" in pinned.source
        assert len(pinned.flags) > 30
        # The reason AFD falls back to the manifest is a fact of the list, not an opinion.
        assert not [f for f in pinned.flags if "afd" in f or "ffn-disagg" in f]


def test_manifest_schema_catches_broken_documents():
    doc = handovers("deepseek-v3-h800")["afd:manifest"].manifest
    assert manifest.validate(doc) == []
    broken = json.loads(json.dumps(doc))
    del broken["expected"]["tpot_ms"]
    broken["pools"][0]["ranks"] = "24"
    broken["architecture"] = "dp"
    problems = manifest.validate(broken)
    assert any("tpot_ms is missing" in p for p in problems)
    assert any("pools[0].ranks: expected integer" in p for p in problems)
    assert any("'dp' is not one of" in p for p in problems)
    jsonschema = pytest.importorskip("jsonschema")  # a second opinion where it is installed
    jsonschema.validate(doc, manifest.schema())


def test_afd_manifest_describes_both_pools():
    h = handovers("deepseek-v3-h800")["afd:sglang"]
    doc = h.manifest
    row = h.row
    attention, ffn = doc["pools"]
    assert (attention["name"], ffn["name"]) == ("attention", "ffn")
    assert attention["nodes"] == row["attention_nodes"] and ffn["nodes"] == row["ffn_nodes"]
    assert attention["sequences_per_rank"] == row["sequences_per_gpu"]
    assert doc["micro_batches"] == row["micro_batches"] >= 3
    assert doc["expected"]["tpot_ms"] == pytest.approx(row["tpot_ms"])
    assert doc["expected"]["tokens_per_s"] == pytest.approx(row["tokens_per_s"])
    assert len(doc["experts"]["layers"]) == h.plan.inst.model.num_moe_layers
    ranks = doc["experts"]["layers"][0]["ranks"]
    assert len(ranks) == ffn["ranks"]
    assert sorted({e for r in ranks for e in r}) == list(range(256))


@pytest.mark.parametrize("fmt", expert_map.FORMATS)
def test_expert_maps_round_trip(fmt, tmp_path, capsys):
    path = scenario(tmp_path)
    out = tmp_path / f"map.{fmt}"
    argv = ["place", path, "--loads", "zipf:s=1.2,seed=3,layers=3", "--ranks", "16"]
    argv += ["--replicas", "16", "--workers", "1", "--format", fmt, "--out", out]
    code, stdout, err = run(capsys, *argv)
    assert code == 0, err
    assert "expert map written" in stdout
    rank_slots = expert_map.read_back(fmt, out.read_text(), 16, 3)
    assert rank_slots.shape == (58, 16, 17)  # every MoE layer, 16 ranks, (256 + 16) / 16
    assert expert_map.map_problems(rank_slots, 256, 17) == []
    # A map with an expert missing or a rank over its slots is caught.
    bad = rank_slots.copy()
    bad[0][bad[0] == 0] = 1
    assert any("have no slot" in p for p in expert_map.map_problems(bad, 256, 17))
    assert expert_map.map_problems(rank_slots, 256, 16)


def test_launch_cli_writes_files_and_refuses_to_overwrite(tmp_path, capsys):
    path = scenario(tmp_path)
    out = tmp_path / "out"
    spec = "arch=ep,nodes=2,sequences_per_gpu=100"
    argv = ["launch", path, "--engine", "sglang", "--deployment", spec, "--out", out]
    argv += ["--loads", "zipf:s=1.1,seed=7,layers=2", "--workers", "1"]
    code, stdout, err = run(capsys, *argv)
    assert code == 0, err
    assert {p.name for p in out.iterdir()} == {
        "manifest.json",
        "launch-sglang.sh",
        "expert-location.json",
    }
    script = (out / "launch-sglang.sh").read_text()
    assert "--init-expert-location expert-location.json" in script
    doc = json.loads((out / "manifest.json").read_text())
    assert manifest.validate(doc) == [] and doc["experts"]["placement"] == "placed"
    loaded = expert_map.read_back("sglang", (out / "expert-location.json").read_text(), 16, 3)
    assert np.array_equal(loaded[0], np.asarray(doc["experts"]["layers"][0]["ranks"]))
    code, _, err = run(capsys, *argv)
    assert code == 2 and "would overwrite" in err
    assert_clean(err, lines=1)
    code, stdout, _ = run(capsys, "launch", path, "--engine", "manifest", "--deployment", spec,
                          "--format", "json")  # fmt: skip
    assert code == 0 and json.loads(stdout)["files"] == ["manifest.json"]


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--engine", "tgi"], "--engine 'tgi': choose from sglang, vllm, trtllm, manifest"),
        (["--engine", "vllm", "--arch", "sp"], "--arch 'sp': choose one of afd, ep, tp"),
        (
            [
                "--engine",
                "vllm",
                "--arch",
                "ep",
                "--deployment",
                "arch=ep,nodes=1,sequences_per_gpu=1",
            ],
            "--deployment/--arch: give one",
        ),
        (["--engine", "vllm", "--force"], "--force: goes with --out DIR"),
        (["--engine", "vllm", "--loads", "zipf:s=-1"], "--loads"),
    ],
)
def test_launch_input_errors_are_one_line(tmp_path, capsys, extra, fragment):
    code, _, err = run(capsys, "launch", scenario(tmp_path), *extra)
    assert code == 2 and fragment in err, err
    assert_clean(err, lines=1)


def test_solve_launch_writes_the_winners_files(tmp_path, capsys):
    out = tmp_path / "launch"
    code, stdout, err = run(capsys, "solve", scenario(tmp_path), "--launch", "vllm", "--out", out)
    assert code == 0, err
    assert "verdict:" in stdout
    script = (out / "launch-vllm.sh").read_text()
    doc = json.loads((out / "manifest.json").read_text())
    assert doc["architecture"] == "ep" and "vllm serve" in script
    assert f"--max-num-seqs {doc['sequences_per_gpu']}" in script
    code, _, err = run(capsys, "solve", scenario(tmp_path), "--launch", "vllm")
    assert code == 2 and "--launch: give --out DIR" in err
    assert_clean(err, lines=1)
