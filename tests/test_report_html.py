"""Issue 16: `--report FILE.html` is one self-contained, well-formed page with every section,
inlined charts that decode as PNG, and nothing fetched from the network (checked with
html.parser; .ci/run renders it in headless Chromium)."""

from __future__ import annotations

import base64

import pytest
from cli_helpers import assert_clean, run, scenario
from html_page import Page

from solver import report_html


@pytest.fixture(scope="module")
def page_text(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    path = tmp / "plan.html"
    from solver.cli import main

    code = main(["solve", str(scenario(tmp)), "--report", str(path), "--report-tpot", "30:60"])
    assert code == 0
    return path.read_text(encoding="utf-8")


def test_report_is_well_formed_and_complete(page_text):
    page = Page()
    page.feed(page_text)
    page.close()
    assert page_text.startswith("<!DOCTYPE html>")
    assert page.errors == [] and page.stack == []
    assert page.sections == list(report_html.SECTIONS)
    assert "afd-solver plan" in page.title
    # One breakdown chart per optimum and the frontier chart, each a decodable PNG.
    charts = [i for i in page.images if i.get("class") == "chart"]
    assert len(charts) == 3
    for img in charts:
        assert img["alt"]
        head, data = img["src"].split(",", 1)
        assert head == "data:image/png;base64"
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    # Self-contained: nothing to fetch.
    assert all(u.startswith("data:") or u.startswith("#") for u in page.urls)
    assert "http://" not in page_text.replace("http://www.w3.org", "")
    for fragment in ("verdict: EP wins", "TPOT (ms)", "shadow prices", "afd-solver solve",
                     "sets the pace", "Assumptions", "@media print"):  # fmt: skip
        assert fragment in page_text, fragment


def test_report_path_is_checked_before_solving(tmp_path, capsys):
    path = scenario(tmp_path)
    target = tmp_path / "plan.html"
    target.write_text("precious")
    code, _, err = run(capsys, "solve", path, "--report", target)
    assert code == 2 and "would overwrite plan.html" in err
    assert_clean(err, lines=1)
    assert target.read_text() == "precious"
    for argv, fragment in (
        (["--report", tmp_path / "plan.txt"], "name an .html file"),
        (["--report-tpot", "10:20"], "--report-tpot: goes with --report"),
        (["--report", tmp_path / "x.html", "--report-tpot", "20"], "--tpot"),
    ):
        code, _, err = run(capsys, "solve", path, *argv)
        assert code == 2 and fragment in err, (argv, err)
        assert_clean(err, lines=1)


def test_pareto_report_is_well_formed(tmp_path, capsys):
    path = tmp_path / "front.html"
    argv = ["pareto", scenario(tmp_path), "--tpot", "30:60", "--report", path]
    code, _, err = run(capsys, *argv)
    assert code == 0, err
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    assert page.errors == [] and page.stack == []
    assert page.sections == list(report_html.PARETO_SECTIONS)
    charts = [i for i in page.images if i.get("class") == "chart"]
    assert len(charts) == 1 and charts[0]["src"].startswith("data:image/png;base64,")
    assert all(u.startswith("data:") for u in page.urls)
    code, _, err = run(capsys, *argv)
    assert code == 2 and "would overwrite front.html" in err
    assert_clean(err, lines=1)
