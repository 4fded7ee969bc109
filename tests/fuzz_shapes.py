"""Issue 17's shapes for the fuzzer of tests/fuzzing.py: output paths that lead elsewhere
(links, devices, empty and occupied paths), Python API calls with one wrong argument, and
fleet files through `size`. `Fuzzer` here is tests/fuzzing.py's with these three kinds of
case (`run(outputs=..., api=..., fleets=...)`); the rules are in that module's docstring."""

from __future__ import annotations

import copy
import json
import math
import shutil
import signal
from pathlib import Path
from typing import Any

import fuzzing
from fuzzing import (
    ALARM_S,
    CATALOGUE,
    EXTREMES,
    FLEET,
    FLEET_VALUES,
    Hang,
    _alarm,
    call,
    mutate_table,
)


def _short(value: Any) -> str:
    """A value for a failure line (no help from the code under test)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 130:
        return f"<int of {value.bit_length()} bits>"
    text = repr(value)
    return text if len(text) <= 40 else text[:35] + "..."


def _outside_changes(outside: Path) -> list[str]:
    """What a run changed in a directory that only a link pointed to."""
    names = sorted(p.name for p in outside.iterdir())
    changed = [n for n in names if n != "sentinel"]
    sentinel = outside / "sentinel"
    if not sentinel.is_file() or sentinel.read_bytes() != b"keep me":
        changed.append("sentinel")
    return changed


def _api_function(name: str) -> Any:
    import solver

    return getattr(solver, name)


class Fuzzer(fuzzing.Fuzzer):
    """Files, command lines, output paths, API calls and fleet files from one seed."""

    # -- output paths: links, devices, empty paths --

    def _output_command(self) -> tuple[list[str], str, tuple[str, ...], bool]:
        """(argv without the output option's value, option, file names it writes, is a dir)."""
        base, fleet = self._base(), self._fleet()
        quick = ["--time-limit", "5"]
        return self.rng.choice(
            [
                (["pareto", base, "--tpot", "40:60", "--arch", "ep", *quick, "--out"],
                 "--out", ("pareto.csv", "pareto.png"), True),
                (["size", fleet, "--workers", "1", *quick, "--out"],
                 "--out", ("plan.csv", "hardware.csv", "plan.png"), True),
                (["size", fleet, "--workers", "1", *quick, "--export"],
                 "--export", ("tiny.fleet.lp", "tiny.fleet.mps"), True),
                (["solve", base, "--arch", "ep", *quick, "--export"],
                 "--export", ("cmd.ep.level1.lp", "cmd.ep.level1.mps"), True),
                (["reproduce", "--only", "ffn_regimes", "--out"],
                 "--out", ("ffn_regimes.csv", "ffn_regimes.png"), True),
                (["sweep", base, "--vary", "workload.tpot_ms=40,50", "--workers", "1", "--arch",
                  "ep", "--out"], "--out", ("results.sqlite", "results.csv"), True),
                (["launch", base, "--engine", "manifest", "--arch", "ep", *quick, "--out"],
                 "--out", ("manifest.json",), True),
                (["place", base, "--loads", "zipf:layers=1", "--workers", "1", "--time-limit",
                  "1", "--out"], "--out", ("placement.csv",), False),
                (["solve", base, "--arch", "ep", *quick, "--report"],
                 "--report", ("report.html",), False),
                (["size", fleet, "--workers", "1", *quick, "--report"],
                 "--report", ("report.html",), False),
                (["calibrate", str(CATALOGUE / "measurements" / "h800-example.csv"),
                  "--hardware", "h800", "--model", "deepseek-v3", "--no-loo", "--out"], "--out",
                 ("cal.toml",), False),
            ]
        )  # fmt: skip

    def run_output(self) -> None:
        """A command whose output path is a link to elsewhere, a device, empty, occupied or
        fresh; nothing outside the output directory may change."""
        rng = self.rng
        t = self.totals
        t.outputs += 1
        self.n += 1
        argv, option, names, is_dir = self._output_command()
        outside = self.dir / f"outside{self.n}"
        outside.mkdir()
        (outside / "sentinel").write_text("keep me")
        shape = rng.choice(["link", "link", "link", "device", "empty", "occupied", "fresh"])
        # A file option gets the suffix its command asks for (.csv, .html, .toml).
        out = self.dir / f"out{self.n}{'' if is_dir else Path(names[0]).suffix}"
        given = str(out)
        if shape == "link":
            target = rng.choice([outside / "sentinel", outside / "new"])
            if is_dir:
                out.mkdir()
                (out / rng.choice(names)).symlink_to(target)
            else:
                out.symlink_to(target)
        elif shape == "device":
            given = "/dev/null"
        elif shape == "empty":
            given = ""
        elif shape == "occupied":
            if is_dir:
                out.mkdir()
                (out / rng.choice(names)).write_text("an earlier result")
            else:
                out.write_text("an earlier result")
        force = ["--force"] if rng.random() < 0.5 else []
        before = {p.name for p in self.dir.iterdir()}
        full = [*argv, given, *force]
        code, _, err = call(full)
        t.exit_codes[f"{argv[0]} {option} {shape} {code}"] += 1
        problem = t.judge(code, err)
        changed = _outside_changes(outside)
        after = {p.name for p in self.dir.iterdir()} - before - {out.name}
        if changed or after or not Path("/dev/null").is_char_device():
            t.outcomes["write outside"] += 1
            problem = f"wrote outside: {changed or sorted(after)[:5]}"
        if shape in ("link", "device", "empty") and code == 0:
            t.outcomes["unsafe path accepted"] += 1
            problem = problem or f"exit 0 with a {shape} output path"
        if problem:
            t.failures.append(f"{' '.join(full)[:300]}: {problem} {err[-300:]}")
        shutil.rmtree(outside, ignore_errors=True)

    # -- the Python API: one argument wrong at a time --

    def run_api(self) -> None:
        """A public function with valid arguments but one of the wrong type or value: it must
        raise InputError (or its family), before any work."""
        from solver.errors import AfdSolverError

        rng = self.rng
        t = self.totals
        t.api += 1
        name, kwargs, bad = self._api_call()
        key = rng.choice(sorted(bad))
        value = rng.choice(bad[key])
        kwargs[key] = value
        function = _api_function(name)
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(ALARM_S)
        outcome = "accepted"
        try:
            function(**kwargs)
        except AfdSolverError:
            outcome = "refused"
        except Hang:
            outcome = "hang"
        except Exception as exc:
            outcome = f"traceback: {type(exc).__name__}: {exc}"[:300]
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
        t.exit_codes[f"api {name} {outcome.split(':')[0]}"] += 1
        shown = f"{name}({key}={_short(value)})"
        if outcome == "refused":
            t.outcomes["api refused"] += 1
            return
        t.outcomes["api accepted" if outcome == "accepted" else outcome.split(":")[0]] += 1
        t.failures.append(f"api {shown}: {outcome}")

    def _api_call(self) -> tuple[str, dict[str, Any], dict[str, list[Any]]]:
        from formulations.types import Deployment

        base, fleet = self._base(), self._fleet()
        csv = str(CATALOGUE / "measurements" / "h800-example.csv")  # needs the model
        common = {
            "overrides": ["x", {1: 2}, [("a", 1)], {"": 1}, {"a..b": 1}],
            "time_limit_s": ["5", float("nan"), float("inf"), -1, 0, 10**400, True, [5]],
        }
        archs = {"architectures": ["ep", ["gpu"], ["ep", "ep"], [], 5, [None], ("ep", "EP")]}
        backend = {"backend": ["nope", 5, "", ["highs"]]}
        workers = {"workers": ["2", 0, -1, 10**6, 2.5, True]}
        flags = ["yes", 1, None, 0.0]
        wrong_deployment = Deployment("afd", 10, 1, 0, (("attention", -1), ("ffn", 2)))
        calls: list[tuple[str, dict[str, Any], dict[str, list[Any]]]] = [
            (
                "solve",
                {"path_or_instance": base, "architectures": ["ep"], "time_limit_s": 5},
                {
                    "path_or_instance": [None, 5, b"cmd.toml", object(), ""],
                    **common, **archs, **backend, **workers,
                    "progress": [5, "x"],
                    "shadow_prices": flags,
                    "breakdown": flags,
                    "scheduler": ["garbage", 5, ""],
                    "export": [5, ""],
                    "force": ["yes", 1],
                },
            ),
            (
                "evaluate",
                {"path_or_instance": base, "deployment": "arch=ep,nodes=4,sequences_per_gpu=64"},
                {
                    "path_or_instance": [None, 5, ""],
                    "deployment": [None, 5, "garbage", {"arch": "ep", "nodes": True},
                                   {"arch": "ep", "nodes": 4, "sequences_per_gpu": 2.5},
                                   {1: 2}, wrong_deployment,
                                   "arch=ep,nodes=4,sequences_per_gpu=" + "9" * 5000],
                    "overrides": common["overrides"],
                    "breakdown": flags,
                },
            ),
            (
                "pareto",
                {"path_or_instance": base, "tpot_ms": "40:60", "architectures": ["ep"],
                 "time_limit_s": 5},
                {
                    "tpot_ms": [10, [1], "a:b", (0, 5), "60:40", float("nan"), [1, 10**400]],
                    **common, **archs, **backend,
                },
            ),
            (
                "solve_many",
                {"paths": [base], "workers": 1, "architectures": ["ep"], "time_limit_s": 5},
                {
                    "paths": [base, [], [None], 5, [5]],
                    **common, **archs, **backend, **workers,
                    "scheduler": ["garbage", 5],
                    "progress": ["x", 5],
                    "export": [5, ""],
                },
            ),
            (
                "size",
                {"fleet": fleet, "workers": 1, "time_limit_s": 5},
                {
                    "fleet": [None, 5, ""],
                    "backend": ["nope", "enumerate", 5],
                    "time_limit_s": common["time_limit_s"],
                    **workers,
                    "progress": ["x", 5],
                    "scheduler": ["garbage", 5],
                },
            ),
            (
                "uncertainty",
                {"path_or_instance": base, "samples": 2, "workers": 1,
                 "overrides": {"uncertainty.ffn_efficiency": "0.4:0.6"}},
                {
                    "samples": [0, -1, "5", 2.5, True, 10**9],
                    "seed": [-1, "x", 2**64, 1.5],
                    **archs, **workers,
                    "time_limit_s": common["time_limit_s"],
                    "out": [5, ""],
                    "resume": ["x"],
                    "force": ["x"],
                    "progress": [5],
                },
            ),
            (
                "calibrate",
                {"measurements": csv, "hardware": "h800", "model": "deepseek-v3",
                 "leave_one_out": False},
                {
                    "measurements": [None, 5, ""],
                    "hardware": [None, 5, ""],
                    "model": [5, ""],
                    "curve": ["x", 1],
                    "leave_one_out": [1, "no"],
                },
            ),
        ]  # fmt: skip
        name, kwargs, bad = self.rng.choice(calls)
        return name, dict(kwargs), bad

    # -- fleet files --

    def run_fleet(self) -> None:
        """A mutated one-workload fleet through `size`: huge numbers, tiny prices, any shape."""
        rng = self.rng
        t = self.totals
        t.fleets += 1
        self.n += 1
        table = copy.deepcopy(FLEET)
        notes = []
        workload, hardware = table["workload"][0], table["hardware"][0]
        for _ in range(rng.choice([1, 1, 2])):
            field_, host = rng.choice(
                [("price_per_gpu_hour", hardware), ("inventory_gpus", hardware),
                 ("demand_tokens_per_s", workload), ("mtp_acceptance", workload),
                 ("tokens_per_step", workload), ("profile", hardware), ("model", workload),
                 ("name", hardware)]
            )  # fmt: skip
            host[field_] = copy.deepcopy(rng.choice([*FLEET_VALUES, *EXTREMES[:12]]))
            notes.append(f"{field_} = {_short(host[field_])}")
        if rng.random() < 0.3:
            notes.append(mutate_table(table, rng))
        path = self._fleet(table, f"fleet{self.n}.toml")
        argv = ["size", path, "--workers", "1", "--time-limit", "5", "--format", "json"]
        code, out, err = call(argv)
        t.exit_codes[f"size {code}"] += 1
        problem = t.judge(code, err)
        if problem is None and code == 0:
            try:
                plan = json.loads(out)
            except json.JSONDecodeError:
                plan = {}
            cost = plan.get("cost_per_hour")
            if plan.get("status") in ("optimal", "feasible") and not (
                isinstance(cost, (int, float)) and math.isfinite(cost) and cost > 0
            ):
                t.outcomes["insane answer"] += 1
                problem = f"plan {plan.get('status')} with cost {cost}"
        if problem:
            t.failures.append(f"size {Path(path).name} ({'; '.join(notes)}): {problem}")
