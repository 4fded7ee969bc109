"""Shipped model and hardware files agree with the shared catalogue and the architecture."""

from __future__ import annotations

import pytest
from conftest import INSTANCES

from formulations.attention import total_params
from formulations.types import Hardware, Model
from solver.io.loader import read_toml
from solver.io.schema import build

MODELS = sorted((INSTANCES / "models").glob("*.toml"))
REQUIRED_MODELS = {
    "deepseek-v3",
    "kimi-k2",
    "step3",
    "qwen3-coder-480b-a35b",
    "ernie-4.5-300b-a47b",
    "glm-4.7",
    "qwen3-235b-a22b",
    "mixtral-8x22b",
    "gpt-oss-120b",
}
REQUIRED_HARDWARE = {
    "h20",
    "h100",
    "h200",
    "h800",
    "b200",
    "b300",
    "gb200-nvl72",
    "gb300-nvl72",
    "mi300x",
}


def _model(path) -> Model:
    raw = read_toml(path)
    raw.setdefault("name", path.stem)
    problems: list[str] = []
    model = build(Model, raw, str(path), "", problems)
    assert not problems, problems
    return model


def test_required_files_are_shipped():
    assert REQUIRED_MODELS <= {p.stem for p in MODELS}
    assert REQUIRED_HARDWARE <= {p.stem for p in (INSTANCES / "hardware").glob("*.toml")}


@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_parameter_count_derived_from_architecture_matches_catalogue(path):
    model = _model(path)
    # Kimi-K2's catalogue total is the rounded "1T"; everything else is within 1 %.
    tolerance = 0.03 if model.name == "kimi-k2" else 0.01
    assert total_params(model) / 1e9 == pytest.approx(model.total_params_b, rel=tolerance)


def test_paper_profile_values():
    for name, key, value in (
        ("h800", "scaleup_gbps", 160),
        ("gb200-nvl72", "fp8_tflops", 4500),
        ("gb200-nvl72", "scaleup_gbps", 720),
    ):
        raw = read_toml(INSTANCES / "hardware" / f"{name}.toml")
        assert raw["paper"][key] == value
    raw = read_toml(INSTANCES / "hardware" / "h800.toml")
    fields = {k: v for k, v in raw.items() if k not in ("efficiency", "latency", "paper")}
    fields["name"] = "h800"
    problems: list[str] = []
    assert build(Hardware, fields, "h800", "", problems) is not None, problems


@pytest.mark.parametrize(
    "path", sorted((INSTANCES / "hardware").glob("*.toml")), ids=lambda p: p.stem
)
def test_fixed_times_belong_to_the_sustained_profile_only(path):
    """docs/model.md §3.1: the paper and datasheet profiles are pure rooflines (so `reproduce`
    does not move); the sustained profile takes every [latency] value of the file, each cited
    with a comment, and every shipped platform states its fixed times."""
    from formulations.types import LATENCY_STAGES
    from solver.io.tables import hardware_from_table

    raw = read_toml(path)
    raw.setdefault("name", path.stem)
    assert set(raw.get("latency", {})) == set(LATENCY_STAGES), "every stage's fixed time"
    for profile in ("paper", "datasheet", "sustained"):
        problems: list[str] = []
        hw = hardware_from_table(raw, profile, str(path), "", problems)
        assert hw is not None, problems
        for stage in LATENCY_STAGES:
            want = raw["latency"][stage] if profile == "sustained" else 0.0
            assert getattr(hw, f"{stage}_latency_us") == want, (profile, stage)
    text = path.read_text().split("[latency]", 1)[1].split("\n[", 1)[0]
    lines = [line for line in text.splitlines()[1:] if "=" in line]
    assert all("#" in line for line in lines), "each fixed time names its source"
