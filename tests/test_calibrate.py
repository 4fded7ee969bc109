"""`afd-solver calibrate` (docs/model.md §19): recovery of known parameters, standard errors that
cover the truth, identifiability, bad rows, and the written file's round trip.

Measurements are generated independently of the code under test: kernel times by the formulas
written out below (docs/model.md §19.2), deployment rows by the reference evaluator
(tests/reference_model.py), with the "true" hardware parameters of `TRUE`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import tomllib
from pathlib import Path

import numpy as np
import pytest
import reference_model as ref
from cli_helpers import run

from solver.calibration import parameters
from solver.calibration.fit import fit
from solver.calibration.measurements import COLUMNS, EXTRA_COLUMNS, read_measurements
from solver.calibration.problem import build
from solver.calibration.run import calibrate
from solver.errors import InputError
from solver.io.tables import validate_hardware_file, validate_model_file

ROOT = Path(__file__).resolve().parents[1]
HEADER = [*COLUMNS, *EXTRA_COLUMNS]

# H800 datasheet peaks (instances/hardware/h800.toml) and the parameters to recover.
FP8, BF16, HBM, UP, OUT = 1979e12, 989e12, 3.35e12, 200e9, 50e9
TRUE = {
    "ffn_efficiency": 0.62,
    "attention_efficiency": 0.71,
    "hbm_efficiency": 0.84,
    "scaleup_efficiency": 0.73,
    "scaleout_efficiency": 0.77,
    "attention_latency_us": 12.0,
    "grouped_gemm_latency_us": 6.0,
    "dispatch_scale_up_latency_us": 14.0,
    "combine_scale_up_latency_us": 9.0,
    "dispatch_scale_out_latency_us": 40.0,
    "combine_scale_out_latency_us": 70.0,
    "allreduce_scale_up_latency_us": 5.0,
}
DS_SCORE_FLOP, DS_KV_ELEMENTS = 278528, 576  # DeepSeek-V3 absorbed MLA per cached token


def gemm_us(m: float, n: int, k: int, groups: int) -> float:
    """One grouped-GEMM call: half the stage's fixed time + max(FLOP time, weight time)."""
    flop = 2 * m * n * k * groups / (FP8 * TRUE["ffn_efficiency"])
    weights = groups * n * k * 1.0 / (HBM * TRUE["hbm_efficiency"])
    return TRUE["grouped_gemm_latency_us"] / 2 + max(flop, weights) * 1e6


def attention_us(batch: int, ctx: float) -> float:
    """FlashMLA-style core: fixed time + max(score FLOPs at BF16, FP8 KV read)."""
    flop = batch * DS_SCORE_FLOP * ctx / (BF16 * TRUE["attention_efficiency"])
    read = batch * DS_KV_ELEMENTS * ctx * 1.0 / (HBM * TRUE["hbm_efficiency"])
    return TRUE["attention_latency_us"] + max(flop, read) * 1e6


def wire_us(kind: str, tier: str, tokens: float, hidden: int, bpe: float) -> float:
    peak, eff = (UP, "scaleup_efficiency") if tier == "scale_up" else (OUT, "scaleout_efficiency")
    fixed = TRUE[f"{kind}_{tier}_latency_us"]
    return fixed + tokens * hidden * bpe / (peak * TRUE[eff]) * 1e6


def allreduce_us(ranks: int, tokens: float, hidden: int, bpe: float) -> float:
    """One ring all-reduce (TP, docs/model.md §20.4): fixed time + 2 (t - 1) / t of the data
    over scale-up."""
    data = tokens * hidden * bpe
    moved = 2 * (ranks - 1) / ranks * data / (UP * TRUE["scaleup_efficiency"])
    return TRUE["allreduce_scale_up_latency_us"] + moved * 1e6


def kernel_rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for m in (16, 64, 256, 1024, 4096):
        for n, k in ((4096, 7168), (7168, 2048)):
            t = gemm_us(m, n, k, 8)
            rows.append(
                dict(kind="grouped_gemm", tokens_per_expert=m, n=n, k=k, groups=8, time_us=t)
            )
    for batch in (1, 8, 32, 64, 128):
        for ctx in (1024, 4096, 16384):
            rows.append(
                dict(
                    kind="attention",
                    batch=batch,
                    context_tokens=ctx,
                    time_us=attention_us(batch, ctx),
                )
            )
    for kind in ("dispatch", "combine"):
        bpe = 1 if kind == "dispatch" else 2
        for tier in ("scale_up", "scale_out"):
            for tokens in (8, 128, 1024, 4096):
                t = wire_us(kind, tier, tokens, 7168, bpe)
                rows.append(
                    dict(kind=kind, tier=tier, ranks=64, tokens=tokens, hidden=7168,
                         bytes_per_element=bpe, time_us=t)
                )  # fmt: skip
    for ranks in (2, 4, 8):
        for tokens in (8, 256, 2048):
            rows.append(
                dict(kind="allreduce", tier="scale_up", ranks=ranks, tokens=tokens, hidden=7168,
                     bytes_per_element=2, time_us=allreduce_us(ranks, tokens, 7168, 2))
            )  # fmt: skip
    return rows


SCENARIO = """
model = "deepseek-v3"
hardware = "h800"
[workload]
tpot_ms = 50
mtp_acceptance = 1.7
context_tokens = 4096
step_gap_ms = 15
[search]
nodes = { min = 1, max = 32 }
"""
DEPLOYMENTS = [
    ("ep", dict(units=4), 64),
    ("ep", dict(units=4), 256),
    ("ep", dict(units=18), 32),
    ("ep", dict(units=18), 200),
    ("afd", dict(attention_units=4, ffn_units=2), 48),
    ("afd", dict(attention_units=4, ffn_units=2), 300),
    ("afd", dict(attention_units=6, ffn_units=4), 96),
]


def spec(arch: str, units: dict[str, int], n: int) -> str:
    if arch == "ep":
        return f"arch=ep,nodes={units['units']},sequences_per_gpu={n}"
    return (
        f"arch=afd,attention_nodes={units['attention_units']},"
        f"ffn_nodes={units['ffn_units']},sequences_per_gpu={n}"
    )


def deployment_rows(tmp_path: Path) -> list[dict[str, object]]:
    """Throughput and TPOT of each deployment on the true hardware, by the reference evaluator."""
    (tmp_path / "scenario.toml").write_text(SCENARIO)
    raw_hw = tomllib.loads((ROOT / "instances/hardware/h800.toml").read_text())
    hw = dataclasses.replace(ref.hardware_from_file(raw_hw, "sustained"), **TRUE)
    model = ref.RefModel.from_dict(
        tomllib.loads((ROOT / "instances/models/deepseek-v3.toml").read_text())
    )
    workload = ref.RefWorkload(tpot_ms=50, context_tokens=4096, mtp_acceptance=1.7, step_gap_ms=15)
    rows = []
    for arch, units, n in DEPLOYMENTS:
        nbo = 3 if arch == "afd" else 2
        d = ref.RefDeployment(arch, n, nbo, 0, **units)
        got = ref.evaluate(model, hw, workload, 8, 1.0, d)
        rows.append(
            dict(kind="deployment", scenario="scenario.toml", deployment=spec(arch, units, n),
                 tokens_per_s_per_gpu=got["tokens_per_s_per_gpu"], tpot_ms=got["tpot_ms"])
        )  # fmt: skip
    return rows


def write_csv(path: Path, rows: list[dict[str, object]], noise: float = 0.0, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, HEADER)
        writer.writeheader()
        for row in rows:
            row = dict(row)
            for key in ("time_us", "tokens_per_s_per_gpu", "tpot_ms"):
                if key in row and noise:
                    row[key] = float(row[key]) * math.exp(noise * rng.standard_normal())  # type: ignore[arg-type]
            writer.writerow(row)
    return path


def fitted(c) -> dict[str, float]:
    return {q.field: float(v) for q, v in zip(c.result.fitted, c.result.estimates, strict=True)}


# ---- recovery ---------------------------------------------------------------------------


def test_recovers_every_parameter_from_kernel_and_deployment_rows(tmp_path):
    path = write_csv(tmp_path / "m.csv", kernel_rows() + deployment_rows(tmp_path))
    c = calibrate(path, "h800", "deepseek-v3")
    got = fitted(c)
    assert set(got) == set(TRUE), c.result.fixed
    for field, want in TRUE.items():
        assert got[field] == pytest.approx(want, rel=0.01), field
    assert c.result.rms < 1e-6
    # Leave-one-out of an exact model predicts every row too.
    assert np.allclose(c.result.loo_predicted, c.problem.measured, rtol=0.01)


def test_deployment_rows_alone_identify_what_they_exercise(tmp_path):
    path = write_csv(tmp_path / "m.csv", deployment_rows(tmp_path))
    c = calibrate(path, "h800", leave_one_out=False)
    fixed = c.result.fixed
    # Dispatch and combine of one tier always run together in a deployment: only their sum
    # is seen, so the second is named as inseparable and keeps its catalogue value.
    assert "latency.combine_scale_out" in fixed
    assert (
        "cannot tell it apart from latency.dispatch_scale_out" in fixed["latency.combine_scale_out"]
    )
    got = fitted(c)
    both = TRUE["dispatch_scale_out_latency_us"] + TRUE["combine_scale_out_latency_us"]
    catalogue_combine = validate_hardware_file(
        ROOT / "instances/hardware/h800.toml"
    ).combine_scale_out_latency_us
    assert got["dispatch_scale_out_latency_us"] + catalogue_combine == pytest.approx(both, rel=0.01)
    assert c.result.rms < 1e-6


def test_a_parameter_no_row_touches_keeps_its_catalogue_value(tmp_path):
    rows = [r for r in kernel_rows() if r["kind"] == "grouped_gemm"]
    path = write_csv(tmp_path / "m.csv", rows)
    c = calibrate(path, "h800", leave_one_out=False)
    base = validate_hardware_file(ROOT / "instances/hardware/h800.toml")
    assert c.result.fixed["efficiency.scaleout"] == "no row depends on it"
    assert c.hardware.scaleout_efficiency == base.scaleout_efficiency
    assert c.hardware.attention_latency_us == base.attention_latency_us
    assert {q.name for q in c.result.fitted} == {
        "efficiency.ffn",
        "efficiency.hbm",
        "latency.grouped_gemm",
    }
    table = c.table()
    assert "not identified by these rows" in table and "efficiency.scaleout" in table


def test_standard_errors_cover_the_truth(tmp_path):
    """5 % log-normal noise, 50 seeds: the 95 % intervals (1.96 standard errors) of every
    parameter cover the true value in 85-99 % of the fits (pooled over the parameters)."""
    path = write_csv(tmp_path / "m.csv", kernel_rows())
    base = validate_hardware_file(ROOT / "instances/hardware/h800.toml")
    model = validate_model_file(ROOT / "instances/models/deepseek-v3.toml")
    problem = build(read_measurements(path), base, model, path)
    clean = problem.measured
    candidates = parameters.catalogue(base)
    hits = []
    for seed in range(50):
        noisy = clean * np.exp(0.05 * np.random.default_rng(seed).standard_normal(len(clean)))
        problem.observations = [
            dataclasses.replace(o, measured=float(v))
            for o, v in zip(problem.observations, noisy, strict=True)
        ]
        result = fit(problem, base, candidates, loo=False)
        assert len(result.fitted) == len(TRUE)
        for q, v, se in zip(result.fitted, result.estimates, result.std_errors, strict=True):
            hits.append(abs(v - TRUE[q.field]) <= 1.96 * se)
    coverage = float(np.mean(hits))
    assert 0.85 <= coverage <= 0.99, coverage


def test_leave_one_out_is_a_refit_without_the_row(tmp_path):
    rows = kernel_rows()[:12]
    noisy = write_csv(tmp_path / "m.csv", rows, noise=0.05, seed=3)
    c = calibrate(noisy, "h800", "deepseek-v3")
    with noisy.open(newline="") as fh:
        kept = [r for i, r in enumerate(csv.DictReader(fh)) if i != 4]
    without = tmp_path / "without.csv"
    with without.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, HEADER)
        writer.writeheader()
        writer.writerows(kept)
    alone = calibrate(without, "h800", "deepseek-v3", leave_one_out=False)
    model = validate_model_file(ROOT / "instances/models/deepseek-v3.toml")
    row5 = build(read_measurements(noisy), alone.hardware, model, noisy)
    assert c.result.loo_predicted[4] == pytest.approx(row5.predict(alone.hardware)[4], rel=1e-6)


def test_curve_fits_the_points_of_the_grouped_gemm_rows(tmp_path):
    rows = [r for r in kernel_rows() if r["kind"] == "grouped_gemm" and r["n"] == 4096]
    c = calibrate(write_csv(tmp_path / "m.csv", rows), "h800", curve=True, leave_one_out=False)
    knots = [x for x, _ in c.hardware.gemm_calibration]
    # At 16 and 64 tokens per expert the call streams weights: no rate can be read there.
    assert knots == [256.0, 1024.0, 4096.0]
    assert c.result.fixed["gemm_calibration.16"].endswith("left out of the curve")
    assert c.result.fixed["latency.grouped_gemm"] == "folded into the fitted grouped-GEMM curve"
    # time per expert never falls (the loader's rule), and the compute-bound points are exact
    per_expert = [x / r for x, r in c.hardware.gemm_calibration]
    assert per_expert == sorted(per_expert)
    assert abs(c.result.residuals[-1]) < 1e-6
    with pytest.raises(InputError, match="at least 3"):
        calibrate(write_csv(tmp_path / "two.csv", rows[:2]), "h800", curve=True)


# ---- the written file ----------------------------------------------------------------------


def test_written_file_validates_and_evaluates_to_the_predictions(tmp_path, capsys):
    path = write_csv(tmp_path / "m.csv", kernel_rows() + deployment_rows(tmp_path), 0.03, 1)
    out = tmp_path / "h800-mine.toml"
    code, text, err = run(
        capsys, "calibrate", str(path), "--hardware", "h800", "--model", "deepseek-v3",
        "--out", str(out), "--format", "json", "--no-loo",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(text)
    assert {"parameters", "fixed", "residuals", "residual_rms", "rows"} <= set(report)
    code, text, err = run(capsys, "validate", str(out))
    assert code == 0 and "h800-mine" in text, err
    written = tomllib.loads(out.read_text())
    assert written["calibration"]["rows"] == len(kernel_rows()) + len(DEPLOYMENTS)
    assert len(written["calibration"]["covariance"]) == len(written["calibration"]["parameters"])
    # Each deployment row, evaluated on a scenario that names the written file, gives back
    # what calibrate predicted for it.
    mine = tmp_path / "mine.toml"
    mine.write_text(SCENARIO.replace('hardware = "h800"', f'hardware = "{out.name}"'))
    predicted = {
        (r["line"], r["quantity"]): r["predicted"]
        for r in report["residuals"]
        if r["kind"] == "deployment"
    }
    first_line = len(kernel_rows()) + 2
    for i, (arch, units, n) in enumerate(DEPLOYMENTS):
        code, text, err = run(
            capsys, "evaluate", str(mine), "--deployment", spec(arch, units, n), "--format", "json"
        )
        assert code == 0, err
        row = json.loads(text)[0]
        line = first_line + i
        assert row["tokens_per_s_per_gpu"] == pytest.approx(
            predicted[(line, "tokens_per_s_per_gpu")], rel=1e-9
        )
        assert row["tpot_ms"] == pytest.approx(predicted[(line, "tpot_ms")], rel=1e-9)


def test_out_is_checked_before_fitting_and_never_replaced_unasked(tmp_path, capsys):
    path = write_csv(tmp_path / "m.csv", kernel_rows()[:10])
    out = tmp_path / "cal.toml"
    out.write_text("keep me")
    code, _, err = run(capsys, "calibrate", str(path), "--hardware", "h800", "--out", str(out))
    assert code == 2 and "--force" in err and out.read_text() == "keep me"
    link = tmp_path / "link.toml"
    link.symlink_to(tmp_path / "elsewhere.toml")
    code, _, err = run(
        capsys, "calibrate", str(path), "--hardware", "h800", "--out", str(link), "--force"
    )
    assert code == 2 and "symbolic link" in err and not (tmp_path / "elsewhere.toml").exists()
    code, _, err = run(
        capsys, "calibrate", str(path), "--hardware", "h800", "--out", "/dev/null", "--force"
    )
    assert code == 2 and ".toml" in err
    code, _, err = run(capsys, "calibrate", str(path), "--hardware", "h800", "--out", str(out),
                       "--force", "--no-loo")  # fmt: skip
    assert code == 0, err
    assert "[calibration]" in out.read_text()


# ---- bad rows ----------------------------------------------------------------------------


G = "kind=grouped_gemm,tokens_per_expert=64,n=4096,k=7168"
W = "tier=scale_up,ranks=8,tokens=8,hidden=7168"
D = "kind=deployment,scenario=scenario.toml,deployment=arch=ep;nodes=2;sequences_per_gpu=8"
BAD = {
    "kind=attention_v2": "kind: 'attention_v2' is not one of",
    f"{G},time_us=-3": "time_us = -3 is out of range: must be > 0 and <= 1e+09",
    f"{G},time_us=nan": "time_us = nan must be finite",
    f"{G.replace('4096', '4096.5')},time_us=3": "n = 4096.5 must be an integer",
    f"{G.replace(',n=4096', '')},time_us=3": "n: missing",
    G: "give time_us or tflops",
    f"{G},time_us=100,tflops=900": "disagree",
    f"kind=dispatch,{W},bytes_per_element=1,time_us=1e400": "out of range",
    f"kind=dispatch,{W.replace('scale_up', 'nvlink')},bytes_per_element=1,time_us=5": "'nvlink'",
    f"kind=combine,{W},bytes_per_element=2,time_us=5,batch=3": "batch: does not apply",
    f"{D.replace('nodes=2', 'nodes=0')},tpot_ms=30": "nodes",
    f"{D.replace('scenario.toml', 'nowhere.toml')},tpot_ms=30": "no file 'nowhere.toml'",
    D: "give tokens_per_s_per_gpu or tpot_ms",
    f"{D.replace('scenario.toml', 'qwen3-235b-a22b-h200')},tpot_ms=30": "not on h800",
    "kind=attention,batch=4,context_tokens=4096,time_us=30": "needs --model",
    f"{G.replace('4096', '9' * 5000)},time_us=3": "out of range",
    f"kind=allreduce,{W.replace('scale_up', 'scale_out')},bytes_per_element=2,time_us=9": (
        "an allreduce row is on scale_up"
    ),
    f"kind=allreduce,{W.replace('ranks=8', 'ranks=1')},bytes_per_element=2,time_us=9": (
        "at least 2 ranks"
    ),
    f"{D.replace('arch=ep;nodes=2', 'arch=tp;tensor_parallel=3;tp_groups=1')},tpot_ms=30": (
        "not a group size"
    ),
}


def test_every_bad_row_is_reported_at_once_with_its_line(tmp_path, capsys):
    (tmp_path / "scenario.toml").write_text(SCENARIO)
    path = tmp_path / "bad.csv"
    good = "kind=dispatch,tier=scale_up,ranks=8,tokens=8,hidden=7168,bytes_per_element=1,time_us=20"
    lines = [good, *BAD, good]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, HEADER)
        writer.writeheader()
        for text in lines:
            cells = dict(part.split("=", 1) for part in text.split(","))
            cells = {k: v.replace(";", ",") for k, v in cells.items()}
            writer.writerow(cells)
    code, _, err = run(capsys, "calibrate", str(path), "--hardware", "h800")
    assert code == 2, err
    assert "Traceback" not in err
    got = err.splitlines()
    for i, (_, fragment) in enumerate(BAD.items()):
        line = i + 3  # header, the good first row, then these
        mine = [g for g in got if f"{path}:{line}:" in g]
        assert mine and any(fragment in g for g in mine), (line, fragment, err)
    assert any(f"{path}:{len(lines) + 1}: duplicate of line 2" in g for g in got), err


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"", "empty file"),
        (b"\x00\x01binary", "binary"),
        (b"kind,n\n", "no measurement rows"),
        (b"n,k\n1,2\n", "no 'kind' column"),
        (b"kind,kind\ncombine,combine\n", "named twice"),
        (b"\xef\xbb\xbfkind,tier,ranks,tokens,hidden,bytes_per_element,time_us\n"
         b"combine,scale_up,8,8,7168,2,20\ncombine,scale_up,8,64,7168,2,25\n", None),
    ],
)  # fmt: skip
def test_hostile_files(tmp_path, capsys, content, fragment):
    path = tmp_path / "m.csv"
    path.write_bytes(content)
    code, text, err = run(capsys, "calibrate", str(path), "--hardware", "h800", "--no-loo")
    if fragment is None:  # a spreadsheet's UTF-8 BOM is not part of the first column's name
        assert code == 0, err
        assert "latency.combine_scale_up" in text
        return
    assert code == 2 and fragment in err and "Traceback" not in err, err


def test_hostile_paths_and_arguments(tmp_path, capsys):
    code, _, err = run(capsys, "calibrate", str(tmp_path), "--hardware", "h800")
    assert code == 2 and "a directory" in err
    if os.path.exists("/dev/zero"):
        code, _, err = run(capsys, "calibrate", "/dev/zero", "--hardware", "h800")
        assert code == 2 and "not a regular file" in err
    path = write_csv(tmp_path / "m.csv", kernel_rows()[:4])
    code, _, err = run(capsys, "calibrate", str(path), "--hardware", "h999")
    assert code == 2 and "unknown hardware" in err
    for bad in (None, 5, ""):
        with pytest.raises(InputError):
            calibrate(bad, "h800")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="leave_one_out must be true or false"):
        calibrate(path, "h800", leave_one_out="no")  # type: ignore[arg-type]


def test_calibration_table_is_checked_when_loaded(tmp_path, capsys):
    path = write_csv(tmp_path / "m.csv", kernel_rows()[:10], noise=0.05)
    out = tmp_path / "cal.toml"
    code, _, err = run(
        capsys, "calibrate", str(path), "--hardware", "h800", "--out", str(out), "--no-loo"
    )
    assert code == 0, err
    text = out.read_text()
    broken = text.replace("[calibration]\n", "[calibration]\nbogus = 1\n")
    for name, content, fragment in (
        ("unknown.toml", broken, "calibration.bogus: unknown field"),
        ("nonsym.toml", text.replace("covariance = [[", "covariance = [[1e9, "), "covariance"),
        (
            "badname.toml",
            text.replace('parameters = ["', 'parameters = ["warp.', 1),
            "not parameter names",
        ),
    ):
        (tmp_path / name).write_text(content)
        code, _, err = run(capsys, "validate", str(tmp_path / name))
        assert code == 2 and fragment in err, (name, err)
