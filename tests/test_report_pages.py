"""Issue 16 part 3: `--report FILE.html` on `sweep`, `crossover`, `solve --uncertainty` and
`size`. Each page is well formed with its sections, inlined PNG charts and nothing to fetch
(html_page.check_page), shows the numbers the command's JSON gives for the same run, and its
path is refused before any solving (.ci/run renders every page in headless Chromium)."""

from __future__ import annotations

import json
import os

import pytest
from cli_helpers import assert_clean, run, scenario
from conftest import ROOT
from html_page import check_page, rows

from formulations import archspec
from solver.report_pages import crossover, size, sweep, uncertainty

TINY_FLEET = ROOT / "tests" / "fleets" / "tiny.toml"
UNCERTAIN = ["--set", "uncertainty.ffn_efficiency=0.3:0.9"]
"""Wide enough that EP's p5, p50 and p95 differ (so a column mixed up shows)."""


def _label(name: str) -> str:
    return archspec.label(name)


def test_sweep_report_shows_the_json_numbers(tmp_path, capsys):
    path = tmp_path / "sweep.html"
    argv = ["--vary", "workload.tpot_ms=40,50", "--vary", "hardware.scaleout_gbps=25,50"]
    argv += ["--workers", "1", "--arch", "afd,ep", "--out", tmp_path / "sw", "--format", "json"]
    code, out, err = run(capsys, "sweep", scenario(tmp_path), *argv, "--report", path)
    assert code == 0, err
    page = check_page(path.read_text(encoding="utf-8"), sweep.SECTIONS, "afd-solver sweep", 1)
    recs = json.loads(out)
    table = rows(page, "results")
    assert len(table) == 4  # one row per point of the 2 x 2 grid
    for rec in recs:
        row = next(
            r for r in table
            if r["workload.tpot_ms"] == str(rec["workload.tpot_ms"])
            and r["hardware.scaleout_gbps"] == str(rec["hardware.scaleout_gbps"])
        )  # fmt: skip
        label = _label(rec["architecture"])
        assert row[f"{label} tokens/s per GPU"] == f"{rec['tokens_per_s_per_gpu']:,.0f}"
        assert row[f"{label} GPUs"] == f"{rec['gpus']:,.0f}"
        rivals = [r for r in recs if r["workload.tpot_ms"] == rec["workload.tpot_ms"]
                  and r["hardware.scaleout_gbps"] == rec["hardware.scaleout_gbps"]]  # fmt: skip
        best = max(rivals, key=lambda r: r["tokens_per_s_per_gpu"])
        assert row["winner"] == _label(best["architecture"])
    text = path.read_text(encoding="utf-8")
    assert "one panel per value of hardware.scaleout_gbps" in text
    assert "afd-solver sweep" in text and "Assumptions" in text


def test_crossover_report_shows_the_json_brackets(tmp_path, capsys):
    path = tmp_path / "cross.html"
    code, out, err = run(capsys, "crossover", scenario(tmp_path), "--vary",
                         "hardware.hbm_gb=20:80", "--grid", "4", "--tol", "5", "--report", path,
                         "--format", "json")  # fmt: skip
    assert code == 0, err
    page = check_page(path.read_text(encoding="utf-8"), crossover.SECTIONS,
                      "afd-solver crossover", 1)  # fmt: skip
    found = json.loads(out)
    assert found["crossings"], "this range holds a change of winner"
    brackets = rows(page, "brackets")
    assert [(r["from"], r["to"]) for r in brackets] == [
        (f"{c['lower']:.6g}", f"{c['upper']:.6g}") for c in found["crossings"]
    ]
    for row, c in zip(brackets, found["crossings"], strict=True):
        for side in ("below", "above"):
            winner = c[f"winner_{side}"]
            assert row[f"winner {side}"] == sweep.NO_WINNER.get(winner, _label(winner))
    evaluated = rows(page, "evaluations")
    assert {"20", "80"} <= {r["hardware.hbm_gb"] for r in evaluated}


def test_uncertainty_report_shows_the_json_numbers(tmp_path, capsys):
    path = tmp_path / "unc.html"
    code, out, err = run(capsys, "solve", scenario(tmp_path), "--uncertainty", "4", "--workers",
                         "1", "--arch", "afd,ep", *UNCERTAIN, "--report", path, "--format",
                         "json")  # fmt: skip
    assert code == 0, err
    text = path.read_text(encoding="utf-8")
    page = check_page(text, uncertainty.SECTIONS, "afd-solver uncertainty", 1)
    found = json.loads(out)
    for arch, p in found["probability_wins"].items():
        assert f"{_label(arch)} wins in {p:.1%} of 4 samples" in text
    quantiles = {r["optimum"]: r for r in rows(page, "quantiles")}
    assert len({round(v) for v in found["quantiles"]["ep"].values()}) == 3
    for key, q in found["quantiles"].items():
        name, fmt = (
            ("AFD/EP ratio", "{:.3f}")
            if "/" in key
            else (f"{_label(key)} tokens/s per GPU", "{:,.0f}")
        )
        assert [quantiles[name][p] for p in ("p5", "p50", "p95")] == [
            fmt.format(q[p]) for p in ("p5", "p50", "p95")
        ]
    shapes = rows(page, "shapes")
    assert [(r["shape"], r["share of samples"]) for r in shapes] == [
        (s["shape"], f"{s['share']:.1%}") for s in found["shapes"]
    ]
    (robust,) = rows(page, "robust")
    assert robust["architecture"] == _label(found["robust"]["architecture"])
    assert (
        robust["worst tokens/s per GPU"] == f"{found['robust']['worst_tokens_per_s_per_gpu']:,.0f}"
    )
    assert "ffn_efficiency uniform in [0.3, 0.9]" in text


def test_size_report_shows_the_json_numbers(tmp_path, capsys):
    path = tmp_path / "fleet.html"
    code, out, err = run(capsys, "size", TINY_FLEET, "--workers", "1", "--report", path,
                         "--format", "json")  # fmt: skip
    assert code == 0, err
    text = path.read_text(encoding="utf-8")
    page = check_page(text, size.SECTIONS, "afd-solver fleet", 1)
    found = json.loads(out)
    assert f"fleet tiny: {found['status']}, ${found['cost_per_hour']:,.2f}/h" in text
    assert f"AFD only ${found['afd_only_cost_per_hour']:,.2f}/h" in text
    plan = rows(page, "plan")
    assert len(plan) == len(found["plan"]) > 0
    for row, rec in zip(plan, found["plan"], strict=True):
        assert (row["workload"], row["arch"]) == (rec["workload"], _label(rec["architecture"]))
        assert row["GPUs"] == f"{rec['gpus']:,.0f}" and row["replicas"] == str(rec["replicas"])
        assert row["$/h"] == f"{rec['cost_per_hour']:,.2f}"
    hardware = rows(page, "hardware")
    assert [(r["hardware"], r["GPUs"]) for r in hardware] == [
        (h["hardware"], f"{h['gpus']:,.0f}") for h in found["hardware"]
    ]
    prices = rows(page, "prices")
    assert [r["shadow $/GPU-h"] for r in prices] == [
        f"{h['shadow_price_per_gpu_hour']:.4f}" for h in found["hardware"]
    ]
    assert "None: every demand is met" in text


def test_size_report_of_an_infeasible_fleet_names_its_shortages(tmp_path, capsys):
    short = tmp_path / "short.toml"
    short.write_text(TINY_FLEET.read_text().replace("inventory_gpus = 64", "inventory_gpus = 8")
                     .replace("inventory_gpus = 400", "inventory_gpus = 8"))  # fmt: skip
    path = tmp_path / "short.html"
    code, out, err = run(capsys, "size", short, "--workers", "1", "--report", path, "--format",
                         "json")  # fmt: skip
    assert code == 0, err
    text = path.read_text(encoding="utf-8")
    page = check_page(text, size.SECTIONS, "afd-solver fleet", 1)
    found = json.loads(out)
    assert found["status"] == "infeasible" and found["shortages"]
    assert "fleet tiny: infeasible, no plan within the inventories" in text
    assert [(r["workload"], r["missing GPUs"]) for r in rows(page, "shortages")] == [
        (s["workload"], f"{s['missing_gpus']:,.0f}") for s in found["shortages"]
    ]


# ---- the report's path: refused before any solving ------------------------------------------

COMMANDS = {
    "sweep": (
        "solver.analysis.sweep.run_sweep",
        lambda tmp: ["sweep", scenario(tmp), "--vary", "workload.tpot_ms=40,50", "--workers",
                     "1", "--out", tmp / "sw"],
    ),
    "crossover": (
        "solver.analysis.crossover.find_crossovers",
        lambda tmp: ["crossover", scenario(tmp), "--vary", "hardware.hbm_gb=20:80"],
    ),
    "uncertainty": (
        "solver.uncertainty.run.uncertainty",
        lambda tmp: ["solve", scenario(tmp), "--uncertainty", "3", "--workers", "1", *UNCERTAIN],
    ),
    "size": ("solver.sizing.size.size", lambda tmp: ["size", TINY_FLEET, "--workers", "1"]),
}  # fmt: skip


def _no_solving(monkeypatch, target: str) -> None:
    module, name = target.rsplit(".", 1)

    def refuse(*args, **kwargs):
        raise AssertionError(f"{target} ran before the --report path was checked")

    monkeypatch.setattr(f"{module}.{name}", refuse)


@pytest.mark.parametrize("kind", list(COMMANDS))
def test_report_path_is_refused_before_solving(kind, tmp_path, capsys, monkeypatch):
    target, argv = COMMANDS[kind]
    _no_solving(monkeypatch, target)
    base = argv(tmp_path)
    kept = tmp_path / "kept.html"
    kept.write_text("precious")
    link = tmp_path / "link.html"
    os.symlink(tmp_path / "elsewhere.html", link)
    (tmp_path / "dir.html").mkdir()
    for report, fragment in (
        (kept, "would overwrite kept.html; pass --force"),
        (link, "is a symbolic link"),
        (tmp_path / "dir.html", "is a directory"),
        (tmp_path / "plan.txt", "name an .html file"),
        ("", "name an .html file"),
    ):
        code, _, err = run(capsys, *base, "--report", report)
        assert code == 2 and fragment in err, (report, err)
        assert_clean(err, lines=1)
    assert kept.read_text() == "precious"
    assert not (tmp_path / "elsewhere.html").exists()
    assert not (tmp_path / "sw").exists()  # the sweep's directory was not even made


def test_force_and_report_tpot_need_their_partners(tmp_path, capsys):
    path = scenario(tmp_path)
    for argv, fragment in (
        (["crossover", path, "--vary", "hardware.hbm_gb=20:80", "--force"], "--force: goes with"),
        (["solve", path, "--uncertainty", "3", *UNCERTAIN, "--report", tmp_path / "u.html",
          "--report-tpot", "20:40"], "--report-tpot: not with --uncertainty"),
        (["size", TINY_FLEET, "--force"], "--force: goes with"),
    ):  # fmt: skip
        code, _, err = run(capsys, *argv)
        assert code == 2 and fragment in err, (argv, err)
        assert_clean(err, lines=1)


def test_uncertainty_report_says_when_the_robust_pass_was_cut(tmp_path):
    from solver.io.loader import load_instance
    from solver.uncertainty.run import Uncertainty

    shape = {"shape": "ep N=2", "share": 1.0, "optimal_in": 4}
    u = Uncertainty(
        samples=4, seed=0, objective="tokens_per_gpu", architectures=("ep",),
        probability_wins={"ep": 1.0}, quantiles={"ep": {"p5": 1.0, "p50": 2.0, "p95": 3.0}},
        shapes=[shape], robust=None, robust_samples=3,
        sample_rows=[{"architecture": "ep", "objective": float(i)} for i in range(4)],
    )  # fmt: skip
    text = uncertainty.uncertainty_page(load_instance(scenario(tmp_path)), u, "afd-solver x")
    check_page(text, uncertainty.SECTIONS, "afd-solver uncertainty", 1)
    assert "the robust pass cover 3 of 4 samples" in text
    assert "No shape has a deployment in every sample" in text
