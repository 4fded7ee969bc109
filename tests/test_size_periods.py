"""`size` with demand over time, end to end on a tiny fleet, and the period lists' input checks."""

from __future__ import annotations

import json

import pytest
from test_size import TINY

from solver import report
from solver.cli import main
from solver.errors import InputError
from solver.io.fleet import load_fleet
from solver.sizing.size import size

CHAT = "demand_tokens_per_s = 120000"
QA = "demand_tokens_per_s = 50000"


def fleet_text(chat: str, qa: str, head: str = "", inventory: int = 64) -> str:
    body = TINY.replace("INVENTORY", str(inventory)).replace(CHAT, chat, 1).replace(QA, qa, 1)
    return head + body


def write(tmp_path, text: str, name: str = "periods.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def sized(tmp_path_factory):
    """Three periods whose peaks fall in different periods, and the fleet sized at the peaks."""
    tmp = tmp_path_factory.mktemp("periods")
    chat = "demand_tokens_per_s = [120000, 40000, 80000]"
    qa = "demand_tokens_per_s = [10000, 60000, 50000]"
    periods = write(tmp, fleet_text(chat, qa))
    at_peak = write(tmp, fleet_text(CHAT, "demand_tokens_per_s = 60000"), "peak.toml")
    return (
        periods,
        size(periods, workers=1, progress=False),
        size(at_peak, workers=1, progress=False),
    )


def test_plan_lists_replicas_per_period_and_meets_every_demand(sized):
    path, result, at_peak = sized
    fleet = load_fleet(path)
    assert result.status == "optimal"
    plan = report.records(result.plan)
    assert list(result.plan.columns)[-1] == "period"
    assert list(result.plan.columns)[:-1] == list(at_peak.plan.columns)
    assert {r["period"] for r in plan} == {1, 2, 3}
    for t in range(3):
        rows = [r for r in plan if r["period"] == t + 1]
        for w in fleet.workloads:
            served = sum(r["tokens_per_s"] for r in rows if r["workload"] == w.name)
            assert served >= w.demands_tokens_per_s[t] * (1 - 1e-9)
        # The hardware table holds the most GPUs in use at any period (what is bought).
        for hw in report.records(result.hardware):
            used = sum(r["gpus"] for r in rows if r["attention_hardware"] == hw["hardware"])
            assert used <= hw["gpus"]
    assert result.cost_per_hour <= at_peak.cost_per_hour + 1e-9
    assert result.cost_per_hour == pytest.approx(
        sum(h["cost_per_hour"] for h in report.records(result.hardware))
    )
    assert list(result.to_dict()) == list(at_peak.to_dict())


def test_one_period_list_is_todays_plan(tmp_path):
    scalar = size(write(tmp_path, fleet_text(CHAT, QA), "a.toml"), workers=1, progress=False)
    listed = size(
        write(tmp_path, fleet_text("demand_tokens_per_s = [120000]", QA), "b.toml"),
        workers=1,
        progress=False,
    )
    assert json.dumps(listed.to_dict()) == json.dumps(scalar.to_dict())
    assert "period" not in listed.plan.columns


def test_cli_table_json_csv_and_plot(sized, tmp_path, capsys):
    path, result, _ = sized
    assert main(["size", str(path), "--workers", "1", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["cost_per_hour"] == pytest.approx(result.cost_per_hour)
    assert all("period" in r for r in data["plan"])
    assert main(["size", str(path), "--workers", "1", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "3 periods" in out and max(map(len, out.splitlines())) <= 100
    assert (tmp_path / "o" / "plan.png").stat().st_size > 0
    assert "period" in (tmp_path / "o" / "plan.csv").read_text().splitlines()[0]


@pytest.mark.parametrize(
    ("chat", "qa", "head", "message"),
    [
        ("demand_tokens_per_s = [1, 2]", QA, "", "lists of different lengths (1, 2 periods)"),
        ("demand_tokens_per_s = []", QA, "", "demand_tokens_per_s: 0 periods; give 1 to 8,760"),
        ("demand_tokens_per_s = [1, 'x']", QA, "", "demand_tokens_per_s[1] = 'x' must be a number"),
        ("demand_tokens_per_s = [1, nan]", QA, "", "demand_tokens_per_s[1] = nan must be finite"),
        ("demand_tokens_per_s = [1, -3]", QA, "", "[1] = -3 is out of range: must be > 0"),
        (f"demand_tokens_per_s = [{'1, ' * 8760}1]", QA, "", "8,761 periods; give 1 to 8,760"),
        (CHAT, QA, "period_hours = 0\n", "period_hours = 0 is out of range: must be > 0 and <="),
        (CHAT, QA, "period_hours = 'x'\n", "period_hours = 'x' must be a number"),
        (CHAT, QA, "price_model = 'rent'\n", "price_model = 'rent': must be one of 'peak'"),
    ],
    ids=["lengths", "empty", "text", "nan", "negative", "too-many", "hours", "hours-text", "model"],
)
def test_period_input_errors_name_file_field_and_range(tmp_path, chat, qa, head, message):
    path = write(tmp_path, fleet_text(chat, qa, head))
    with pytest.raises(InputError) as err:
        load_fleet(path)
    assert any(str(path) in p and message in p for p in err.value.problems), err.value.problems


@pytest.mark.parametrize("chat", [CHAT, "demand_tokens_per_s = [120000, 60000]"])
def test_fleet_program_phase_reports_progress(tmp_path, capsys, chat):
    qa = QA if chat == CHAT else "demand_tokens_per_s = [50000, 70000]"
    path = write(tmp_path, fleet_text(chat, qa))
    size(path, workers=1, progress=True)
    assert "size: fleet program" in capsys.readouterr().err
    size(path, workers=1, progress=False)
    assert capsys.readouterr().err == ""


def test_short_inventory_names_the_gpus_missing_at_the_busiest_period(tmp_path):
    chat = "demand_tokens_per_s = [120000, 40000]"
    qa = "demand_tokens_per_s = [10000, 60000]"
    text = fleet_text(chat, qa, inventory=16).replace("inventory_gpus = 400", "inventory_gpus = 0")
    result = size(write(tmp_path, text), workers=1, progress=False)
    assert result.status == "infeasible" and result.cost_per_hour is None
    short = report.records(result.shortages)
    assert [r["hardware"] for r in short] == ["h800"] and short[0]["missing_gpus"] > 0
    assert "busiest period" in short[0]["reason"]
    plan = report.records(result.plan)
    assert {r["period"] for r in plan} == {1, 2}
    busiest = max(
        sum(r["gpus"] for r in plan if r["period"] == t and r["attention_hardware"] == "h800")
        for t in (1, 2)
    )
    assert busiest == 16 + short[0]["missing_gpus"]


def test_plot_shows_the_gpus_of_every_period(sized, monkeypatch, tmp_path):
    from test_size_fixes import _drawn

    _, result, _ = sized
    fig, _ = _drawn(monkeypatch, result.plan, list(result.hardware["hardware"]), tmp_path)
    drawn: dict[int, float] = {}
    for bar in fig.axes[0].patches:
        period = round(bar.get_x() + bar.get_width() / 2)
        drawn[period] = drawn.get(period, 0.0) + bar.get_height()
    plan = report.records(result.plan)
    assert drawn == {t: sum(r["gpus"] for r in plan if r["period"] == t) for t in (1, 2, 3)}
